"""``skiff.Cluster``: a skiff cluster as a Dask cluster object.

The broker owns the cluster (its machines, deadlines, watchdog and scaling); this class asks for it through
the ``skiff`` tool and connects to its scheduler with the cluster's own TLS, so ``Client(cluster)``,
``cluster.scheduler_address``, the notebook repr and ``with ... as cluster:`` behave as Dask's own clusters do.

    start ──► `skiff up --json` (progress lines → logging "skiff") ──► Security + scheduler comm ──► running
    close ──► Dask comms closed ──► `skiff down` (unless shutdown_on_close=False)
"""

from __future__ import annotations

import asyncio
import atexit
import datetime
import html
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Sequence

from dask.utils import parse_timedelta
from distributed.core import Status, rpc
from distributed.objects import SchedulerInfo
from distributed.deploy.cluster import Cluster as DaskCluster
from distributed.security import Security
from distributed.system import MEMORY_LIMIT
from distributed.utils import Log, Logs

from ._cli import SkiffCLI, is_unknown_command
from ._flags import canonical, to_flags
from .config import settings
from .errors import SkiffError
from .sizing import WorkerSize, adaptive_bounds, workers_for

logger = logging.getLogger("skiff")

# A dashboard URL carries a token the broker mints (valid 1 h); a fresh one at most this often (seconds), so the
# notebook widget, which redraws twice a second, does not ask the broker each time.
DASHBOARD_REFRESH_S = 60.0
# The notebook card and widget read the broker's view (state, requested workers) at most this often (seconds).
VIEW_REFRESH_S = 10.0
# How long `skiff down` may take: cloud machines take minutes to terminate (seconds).
DOWN_TIMEOUT_S = 15 * 60.0

# Clusters to stop when this Python exits (only those with shutdown_on_close).
_live: "weakref.WeakSet[Cluster]" = weakref.WeakSet()


def _stop_at_exit() -> None:
    for c in list(_live):
        c._shutdown_quietly()


atexit.register(_stop_at_exit)


def _default_handler() -> None:
    """Progress shows without any logging setup, as distributed's own log lines do; configured logging wins."""
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def _front_end_widgets() -> bool:
    """ipywidgets 7 or newer is importable (widget protocol 2, which JupyterLab and nbclient speak)."""
    try:
        import ipywidgets
    except ImportError:
        return False
    try:
        return int(str(ipywidgets.__version__).split(".")[0]) >= 7
    except ValueError:
        return False


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _run_in_thread(coro: "Coroutine[Any, Any, Any]") -> Any:
    """Runs `coro` to its end on a loop of its own, in a thread (this thread may be running a loop already)."""
    out: Dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            out["error"] = e

    t = threading.Thread(target=run, name="skiff-call", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def resolve_options(given: Dict[str, Any]) -> Dict[str, Any]:
    """Each option from the keyword arguments where given (not None), else from Dask's ``skiff.*`` config.

    Keys come back in their one Python spelling (``scheduler_vm_type`` → ``scheduler_vm_types``), so a keyword and
    a config key for the same option are one option.
    """
    out: Dict[str, Any] = {}
    for key, value in settings().items():
        if value is not None:
            out[canonical(key)] = value
    for key, value in given.items():
        if value is not None:
            out[canonical(key)] = value
    return out


class Cluster(DaskCluster):
    """A Dask cluster run by skiff, on this machine (``backend="local"``) or in your AWS account (``"aws"``).

    Every argument is a ``skiff up`` option under its Python name (``worker_vm_types=["m6i.large"]`` is
    ``--worker-vm-types m6i.large``; durations take seconds, a timedelta or "20m"); ``**backend_options`` pass
    further ones (``ssh_from="203.0.113.7"``, ``options={"tags": {...}}``). The broker checks them all: a bad
    one raises ``skiff.SkiffValueError`` (a ``ValueError``) with its code, and nothing is created.

    The machines run this Python's versions of Dask (``python=`` names another interpreter).
    ``env={"NAME": "value"}`` reaches every Dask process (kept in the cluster record); ``secret_env=["NAME"]``
    sends this process's value of each variable to the machines only, never to the broker.
    ``forward_aws_credentials`` (default: on for aws) sends short-lived AWS credentials from your own credential
    chain straight to the machines, and this object keeps them fresh while it lives.
    ``shutdown_on_close=False`` keeps the cluster running after ``close()`` and after this process exits;
    ``Cluster.from_name(name)`` attaches to it again.

    Every option not given (or given as None) comes from Dask's configuration under ``skiff.`` (the package's
    ``skiff.yaml`` holds the defaults: ``backend: local``), so a team shares one YAML file in
    ``~/.config/dask/`` or sets ``DASK_SKIFF__BACKEND=aws``; a keyword argument wins.
    """

    _supports_scaling = True

    def __init__(
        self,
        n_workers: Optional[int] = None,
        name: Optional[str] = None,
        backend: Optional[str] = None,
        worker_vm_types: Optional[Sequence[str]] = None,
        scheduler_vm_type: Optional[Any] = None,
        spot_policy: Optional[str] = None,
        region: Optional[str] = None,
        zone: Optional[str] = None,
        idle_timeout: Optional[Any] = None,
        no_client_timeout: Optional[Any] = None,
        packages: Optional[Any] = None,
        shutdown_on_close: Optional[bool] = None,
        wait_timeout: Optional[Any] = None,
        *,
        env: Optional[Dict[str, str]] = None,
        secret_env: Optional[Sequence[str]] = None,
        forward_aws_credentials: Optional[bool] = None,
        asynchronous: bool = False,
        loop: Any = None,
        quiet: bool = False,
        **backend_options: Any,
    ) -> None:
        given: Dict[str, Any] = {
            "n_workers": n_workers, "name": name, "backend": backend, "worker_vm_types": worker_vm_types,
            "scheduler_vm_type": scheduler_vm_type, "spot_policy": spot_policy, "region": region, "zone": zone,
            "idle_timeout": idle_timeout, "no_client_timeout": no_client_timeout, "packages": packages,
            "wait_timeout": wait_timeout, "shutdown_on_close": shutdown_on_close, "env": env,
            "secret_env": secret_env, "forward_aws_credentials": forward_aws_credentials, **backend_options,
        }
        options = resolve_options(given)
        shutdown = options.pop("shutdown_on_close", None)
        env = options.pop("env", None)
        secret_env = options.pop("secret_env", None)
        forward = options.pop("forward_aws_credentials", None)
        # The client's environment is this interpreter's: the machines match its Python and Dask.
        if options.get("python") is None:
            options["python"] = sys.executable
        # Repeated flags, one per variable; the CLI checks the names (and that each secret variable is set).
        data = [f"--env={k}={v}" for k, v in (env or {}).items()] + [f"--secret-env={n}" for n in (secret_env or [])]
        if forward is not None:
            data.append("--forward-aws-credentials" if forward else "--no-forward-aws-credentials")
        self._setup(["up", "--json", *to_flags(options), *data], None, True if shutdown is None else bool(shutdown),
                    options.get("name"), asynchronous, loop, quiet)

    @classmethod
    def from_name(cls, name: str, shutdown_on_close: Optional[bool] = None, *, asynchronous: bool = False,
                  loop: Any = None, quiet: bool = False) -> "Cluster":
        """Attach to a running cluster by name or id (from another process, notebook or `skiff up`).

        A client certificate is made for this process (its key made here); ``close()`` stops the cluster unless
        ``shutdown_on_close=False`` (default: Dask's ``skiff.shutdown-on-close``).
        """
        self = cls.__new__(cls)
        if shutdown_on_close is None:
            shutdown_on_close = resolve_options({}).get("shutdown_on_close") is not False
        self._setup(None, name, shutdown_on_close, name, asynchronous, loop, quiet)
        return self

    # -- start ---------------------------------------------------------------------------------------------

    def _setup(self, up_args: Optional[List[str]], attach: Optional[str], shutdown_on_close: bool,
               name: Optional[str], asynchronous: bool, loop: Any, quiet: bool) -> None:
        self._cli = SkiffCLI.find()  # before anything else: a missing tool is one clear error
        self._up_args = up_args
        self._attach = attach
        self.shutdown_on_close = shutdown_on_close
        self.cluster_id: Optional[str] = None
        self._stop_on_close = shutdown_on_close
        self.security: Optional[Security] = None
        self._created = False
        self._creds_dir: Optional[str] = None
        # The broker's view of the cluster (`skiff status --json`: state, requested workers, adaptive bounds,
        # dashboard link) and when it was read (time.monotonic()).
        self._view: Dict[str, Any] = {}
        self._view_at = float("-inf")
        self._dashboard: Optional[str] = None
        self._viewing: Optional[threading.Thread] = None
        self._starting: "Optional[asyncio.Future[None]]" = None
        self._refresher: Optional["subprocess.Popen[str]"] = None
        self._progress_level = logging.DEBUG if quiet else logging.INFO
        if not quiet:
            _default_handler()
        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet, name=name or "(starting)")
        if not self.asynchronous:
            # Blocking the caller, on the cluster's loop thread. Ctrl-C reaches the `skiff` command at once (same
            # process group) and cancels the call, which stops the command if it is still running.
            self._loop_runner.start()
            try:
                self.sync(self._start_cluster)
            except BaseException:
                self._loop_runner.stop()
                raise

    def __await__(self):
        """``await cluster`` (``asynchronous=True``): starts it once; later awaits (``Client(cluster)`` awaits its
        cluster) return it at once, as does awaiting a cluster started without ``asynchronous``."""
        async def start() -> "Cluster":
            if self._starting is None and self.status == Status.created:
                self._starting = asyncio.ensure_future(self._start_cluster())
            if self._starting is not None:
                await self._starting
            return self

        return start().__await__()

    async def _start_cluster(self) -> None:
        await self._provision()
        await self._connect()

    def _progress(self, level: int, line: str) -> None:
        self._cluster_manager_logs.append((datetime.datetime.now(), line))
        logger.log(self._progress_level if level <= logging.INFO else level, "%s", line)

    async def _provision(self) -> None:
        """`skiff up`, or `skiff status` + `skiff credentials` for a cluster that runs already."""
        self.status = Status.starting
        try:
            if self._up_args is not None:
                # `up` follows the broker's start deadline itself: no timeout of ours on top.
                info = await self._cli.json_async(self._up_args, timeout_s=None, progress=self._progress)
                creds = info["credentials"]
            else:
                info = await self._cli.json_async(["status", self._attach, "--json"], progress=self._progress)
                self._set_view(info)
                self._progress(logging.INFO, f"attaching to cluster {info['name']} ({info['id']}), {info['state']}")
                # The key is made by `skiff credentials` on this machine; it lives as long as this object. The
                # broker refuses a cluster that is not live (its own code and message).
                self._creds_dir = tempfile.mkdtemp(prefix=f"skiff-{info['name']}-")
                creds = await self._cli.json_async(["credentials", info["id"], "--out", self._creds_dir, "--json"],
                                                   progress=self._progress)
                if not info.get("scheduler"):
                    raise SkiffError(f"cluster {info['name']} is {info['state']} and has no scheduler address yet; "
                                     f"`skiff status {info['name']}` follows it")
        except BaseException:
            # `up` failed or was interrupted: the broker stops what it began (its start deadline holds).
            self._forget_credentials()
            self.status = Status.closed
            raise
        self.cluster_id = info["id"]
        # A cluster this object made is stopped if connecting to it fails, whatever shutdown_on_close says.
        self._created = self._up_args is not None
        self.name = info["name"]
        self._scheduler = info["scheduler"]
        if info.get("dashboard"):
            self._dashboard = info["dashboard"]
        self.security = Security(tls_ca_file=creds["ca"], tls_client_cert=creds["cert"], tls_client_key=creds["key"],
                                 require_encryption=True)
        if (info.get("dataAccess") or {}).get("forwardAws") and info.get("state") in ("starting", "running"):
            # While this object lives, the cluster's AWS credentials are renewed at half their life, from here.
            self._refresher = self._cli.background(["credentials", info["id"], "--forward", "--json"], progress=self._progress)
        if self._stop_on_close or self._refresher is not None:
            _live.add(self)
        if self._up_args is not None:
            # `up` printed no view of the requested workers, backend and thread count: the broker's, once.
            self._set_view(await self._cli.json_async(["status", self.cluster_id, "--json"], progress=self._progress))

    async def _connect(self) -> None:
        try:
            self.scheduler_comm = rpc(self._scheduler, connection_args=self.security.get_connection_args("client"))
            await super()._start()
        except BaseException:
            # A cluster this object made must not be left running because the connection failed.
            self._stop_on_close = self._stop_on_close or self._created
            await self._close()
            raise
        self._progress(logging.INFO, f"cluster {self.name} ready: {self._scheduler}, "
                                     f"{len(self.scheduler_info['workers'])} workers")

    # -- the broker's view ---------------------------------------------------------------------------------

    def _set_view(self, view: Dict[str, Any]) -> None:
        self._view, self._view_at = dict(view), time.monotonic()
        if view.get("dashboard"):
            self._dashboard = view["dashboard"]

    def _refresh_view(self, max_age_s: float) -> None:
        """Reads the broker's view again when it is older than ``max_age_s``: in this thread, or, on an event loop
        (the notebook widget redraws on the cluster's loop; ``asynchronous=True`` code runs on the user's), in a
        thread of its own while the last view serves (the loop is never blocked by a command)."""
        if self.cluster_id is None or time.monotonic() - self._view_at <= max_age_s:
            return
        if not _on_event_loop():
            self._read_view()
        elif self._viewing is None or not self._viewing.is_alive():
            self._viewing = threading.Thread(target=self._read_view, name="skiff-status", daemon=True)
            self._viewing.start()

    def _read_view(self) -> None:
        try:
            self._set_view(self._cli.json(["status", self.cluster_id, "--json"], progress=self._progress))
        except SkiffError as e:
            logger.warning("no fresh view of cluster %s: %s", self.name, e)
            self._view_at = time.monotonic()  # not again at once: the last view serves

    def _call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``fn(*args)`` as distributed's methods run: awaitable with ``asynchronous=True`` (started at once, as
        ``SpecCluster.scale`` acts whether or not it is awaited); else to its end, on the cluster's loop, or, once
        that loop stopped (after ``with``), on a loop of its own."""
        if self.asynchronous:
            coro = fn(*args)
            try:
                return asyncio.get_running_loop().create_task(coro)
            except RuntimeError:  # called off the loop (a widget callback thread)
                return asyncio.run_coroutine_threadsafe(coro, self.loop.asyncio_loop)
        if self._loop_runner.is_started():
            return self.sync(fn, *args)
        return _run_in_thread(fn(*args))

    # -- what Dask users call ------------------------------------------------------------------------------

    @property
    def dashboard_link(self) -> str:
        """The dashboard through the cluster's gateway, with a fresh short-lived token (a new one at most every
        DASHBOARD_REFRESH_S; each is good for an hour)."""
        self._refresh_view(DASHBOARD_REFRESH_S)
        return self._dashboard or ""

    def scale(self, n: int = 0, memory: Optional[Any] = None, cores: Optional[int] = None) -> Any:
        """Ask the broker for `n` workers (it launches or retires machines; retiring moves their data first).

        ``memory="64GiB"`` / ``cores=32`` ask for enough workers for that much (the larger of the counts given, as
        distributed's ``SpecCluster.scale``), by the size of one worker: see ``worker_size``. Returns once the
        broker has the new count, as Dask's clusters do: ``wait_for_workers(n)`` waits for the machines; with
        ``asynchronous=True`` it returns an awaitable, started at once.
        """
        return self._call(self._scale, n, memory, cores)

    async def _scale(self, n: int, memory: Optional[Any], cores: Optional[int]) -> None:
        if memory is not None or cores is not None:
            size = await self._worker_size()
            n = workers_for(size, n, memory, cores, "scale")
        self._set_view(await self._scaling("scale", [str(n), "--no-wait"]))

    def adapt(self, minimum: Optional[int] = None, maximum: Optional[int] = None, *,
              minimum_memory: Optional[Any] = None, maximum_memory: Optional[Any] = None,
              minimum_cores: Optional[int] = None, maximum_cores: Optional[int] = None, **options: Any) -> Any:
        """Adaptive scaling between `minimum` (default 0) and `maximum` workers, decided next to the scheduler from
        Dask's own adaptive target (not by a client-side ``Adaptive``, so it keeps working when this process goes
        away). ``minimum_memory``/``maximum_memory``/``minimum_cores``/``maximum_cores`` bound it by size, as
        distributed's ``SpecCluster.adapt`` does (a minimum rounds up, a maximum down). ``adapt(off=True)`` stops
        it. There is always a maximum: skiff never scales a cluster without a bound.
        """
        return self._call(self._adapt, minimum, maximum, minimum_memory, maximum_memory, minimum_cores,
                          maximum_cores, options)

    async def _adapt(self, minimum: Optional[int], maximum: Optional[int], minimum_memory: Any, maximum_memory: Any,
                     minimum_cores: Optional[int], maximum_cores: Optional[int], options: Dict[str, Any]) -> None:
        if not options.get("off"):
            sized = [minimum_memory, maximum_memory, minimum_cores, maximum_cores]
            size = await self._worker_size() if any(v is not None for v in sized) else None
            minimum, maximum = adaptive_bounds(size, minimum, maximum, *sized)
        self._set_view(await self._scaling("adapt", to_flags({"minimum": minimum, "maximum": maximum, **options})))

    async def _scaling(self, command: str, args: List[str]) -> Dict[str, Any]:
        if self.cluster_id is None:
            raise SkiffError(f"cluster {self.name} has not started yet")
        try:
            view = await self._cli.json_async([command, self.cluster_id, *args, "--json"], progress=self._progress)
        except SkiffError as e:
            if is_unknown_command(e, command):
                raise NotImplementedError(
                    f"cluster.{command}() needs a skiff with `skiff {command}`; the installed one "
                    f"({' '.join(self._cli.argv0)}) has no such command. Update skiff") from e
            raise
        return {**self._view, **view}

    def worker_size(self) -> "WorkerSize":
        """The memory (bytes, None when unknown) and threads of one worker, as ``scale(memory=, cores=)`` counts.

        Dask's own figures while workers are connected (the smallest ``memory_limit`` and ``nthreads`` among them:
        new workers start with the cluster's own options); before any is, the backend's: locally this machine's
        memory and CPUs, shared as Dask shares them (a worker of t threads on a machine of c CPUs gets
        min(1, t/c) of its memory); on aws the threads (--worker-threads), the memory once a worker has connected.
        """
        return self._call(self._worker_size)

    async def _worker_size(self) -> "WorkerSize":
        workers = list(self.scheduler_info.get("workers", {}).values())
        if workers:
            limits = [w.get("memory_limit") or 0 for w in workers]
            return WorkerSize(min(limits) if all(limits) else None, min(int(w["nthreads"]) for w in workers))
        if self._view.get("backend") is None and self.cluster_id is not None:
            self._set_view(await self._cli.json_async(["status", self.cluster_id, "--json"], progress=self._progress))
        threads = self._view.get("workerThreads")
        if self._view.get("backend") == "local":
            cpus = os.cpu_count() or 1
            threads = int(threads or cpus)
            return WorkerSize(int(MEMORY_LIMIT * min(1.0, threads / cpus)), threads)
        return WorkerSize(None, int(threads) if threads else None)

    def wait_for_workers(self, n_workers: int, timeout: Optional[Any] = None) -> Any:
        """Block until `n_workers` workers are connected (``timeout``: seconds or "1m"; TimeoutError after)."""
        if not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer; got {n_workers!r}")
        return self.sync(self._wait_for_workers, n_workers, timeout=timeout)

    async def _wait_for_workers(self, n_workers: int, timeout: Optional[Any] = None) -> None:
        limit = parse_timedelta(timeout) if timeout is not None else None
        deadline = None if limit is None else time.monotonic() + limit

        def running() -> int:
            return sum(1 for w in self.scheduler_info["workers"].values() if w.get("status") == Status.running.name)

        # As newer Dask's Cluster.wait_for_workers: the scheduler's own view each time (the worker-status
        # subscription reports joins, not a new worker becoming running).
        self.scheduler_info = SchedulerInfo(await self.scheduler_comm.identity())
        while running() < n_workers:
            if deadline is not None and time.monotonic() > deadline:
                raise asyncio.TimeoutError(f"only {running()} of {n_workers} workers connected within {timeout}")
            await asyncio.sleep(0.2)
            self.scheduler_info = SchedulerInfo(await self.scheduler_comm.identity())

    def get_logs(self, cluster: bool = True, scheduler: bool = True, workers: Any = True, *,
                 since: Optional[Any] = None, filter: Optional[str] = None) -> Any:
        """Logs as distributed's ``Cluster.get_logs``: ``{"Cluster": this object's own lines, machine: text}``.

        Every machine's lines (Dask's output, the agent's, boot) from skiff's log store or CloudWatch, under its
        name (``scheduler``, ``worker-1``, ...); also after the cluster stopped. ``workers``: True, False, or the
        names of the workers wanted. ``since``: e.g. "10m"; ``filter``: a substring.
        """
        return self._call(self._get_logs, cluster, scheduler, workers, since, filter)

    async def _get_logs(self, cluster: bool, scheduler: bool, workers: Any, since: Any, filter: Optional[str]) -> Logs:
        logs = Logs()
        if cluster:
            logs["Cluster"] = Log("\n".join(line for _, line in self._cluster_manager_logs))
        if self.cluster_id is None or not (scheduler or workers):
            return logs
        wanted = None if workers is True or workers is False else set(workers)
        lines = await self._cli.json_lines_async(["logs", self.cluster_id, "--json", *to_flags({"since": since, "filter": filter})],
                                                 progress=self._progress)
        by_machine: Dict[str, List[str]] = {}
        for e in lines:
            machine = e.get("machine", "")
            if machine == "scheduler" and not scheduler:
                continue
            if machine != "scheduler" and (not workers or (wanted is not None and machine not in wanted)):
                continue
            by_machine.setdefault(machine, []).append(e.get("message", ""))
        for m, ls in sorted(by_machine.items()):
            logs[m] = Log("\n".join(ls))
        return logs

    def get_notifications(self) -> List[Dict[str, Any]]:
        """This cluster's state changes (with their reasons) and alerts, oldest first."""
        return self._cli.json_lines(["notifications", self.cluster_id or self.name, "--json"], progress=self._progress)

    # -- the notebook --------------------------------------------------------------------------------------

    def _repr_html_(self, cluster_status: Optional[str] = None) -> str:
        """distributed's cluster card (name, dashboard link, connected workers, threads, memory, scheduler) with
        skiff's rows: the broker's state, the workers requested, the cost where it is known."""
        self._refresh_view(VIEW_REFRESH_S)
        rows = [("State", f"{self._state()} ({self._view.get('backend', 'unknown backend')})"),
                ("Workers requested", self._requested())]
        cost = self._cost()
        if cost:
            rows.append(("Cost", cost))
        extra = "".join(f'<tr><td style="text-align: left;"><strong>{html.escape(k)}:</strong> {html.escape(v)}</td></tr>'
                        for k, v in rows)
        return super()._repr_html_(cluster_status=extra + (cluster_status or ""))

    def _widget(self) -> Any:
        """distributed's widget (the card, and a Scaling tab that calls scale() and adapt()) with ipywidgets 7 or
        newer; None with an older one (distributed's widget sets traits ipywidgets 6 refuses) or none."""
        if not _front_end_widgets():
            self._cached_widget = None
            return None
        return super()._widget()

    def _ipython_display_(self, **kwargs: Any) -> None:
        """distributed's display: the widget where ipywidgets speaks the protocol of today's front ends (JupyterLab,
        nbconvert/nbclient: ipywidgets 7 or newer); with an older one (Debian 12 ships 6.0) the card alone, as
        distributed shows it without ipywidgets."""
        if _front_end_widgets():
            super()._ipython_display_(**kwargs)
            return
        from IPython.display import display

        display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)

    def _scaling_status(self) -> str:
        """The widget's Scaling tab: the broker's mode and requested count (distributed's own counts local workers)."""
        self._refresh_view(VIEW_REFRESH_S)
        adaptive = self._view.get("adaptive")
        mode = f"Adaptive ({adaptive['minimum']} to {adaptive['maximum']} workers)" if adaptive else "Manual"
        connected = len(self.scheduler_info["workers"])
        requested = self._view.get("workers", connected)
        count = connected if connected == requested else f"{connected} / {requested}"
        return f"""
        <table>
            <tr><td style="text-align: left;">Scaling mode: {mode}</td></tr>
            <tr><td style="text-align: left;">Workers: {count}</td></tr>
        </table>
        """

    def _state(self) -> str:
        if self.status == Status.closed:
            return "closed" if not self._view.get("state") else f"closed, cluster {self._view['state']}"
        return str(self._view.get("state") or self.status.name)

    def _requested(self) -> str:
        requested = self._view.get("workers")
        connected = len(self.scheduler_info["workers"])
        text = f"{requested if requested is not None else '?'} ({connected} connected)"
        adaptive = self._view.get("adaptive")
        return text + (f", adaptive {adaptive['minimum']} to {adaptive['maximum']}" if adaptive else "")

    def _cost(self) -> Optional[str]:
        # The broker knows no prices: a cloud cluster's cost is not shown rather than guessed.
        return "none (runs on this computer)" if self._view.get("backend") == "local" else None

    # -- stop ----------------------------------------------------------------------------------------------

    async def _close(self) -> None:
        if self.status == Status.closed:
            return
        try:
            if self.scheduler_comm is not None:
                await super()._close()
        finally:
            self.status = Status.closed
            self._stop_refresher()
            if self._stop_on_close and self.cluster_id is not None:
                await self._down_async()
            self._forget_credentials()
            _live.discard(self)

    async def _down_async(self) -> None:
        self._progress(logging.INFO, f"stopping cluster {self.name} ({self.cluster_id})")
        self._stop_on_close = False
        view = await self._cli.json_async(["down", self.cluster_id, "--json"], timeout_s=DOWN_TIMEOUT_S, progress=self._progress)
        self._stopped(view)

    def _down(self) -> None:
        """As _down_async, blocking: at interpreter exit, when no event loop may be left."""
        self._progress(logging.INFO, f"stopping cluster {self.name} ({self.cluster_id})")
        self._stop_on_close = False
        self._stopped(self._cli.json(["down", self.cluster_id, "--json"], timeout_s=DOWN_TIMEOUT_S, progress=self._progress))

    def _stopped(self, view: Dict[str, Any]) -> None:
        self._view = {**self._view, **view}
        self._progress(logging.INFO, f"cluster {view['name']} {view['state']}")

    def _stop_refresher(self) -> None:
        proc, self._refresher = self._refresher, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _shutdown_quietly(self) -> None:
        """At interpreter exit: the event loop may be gone, so only the `skiff down`."""
        self._stop_refresher()
        if self._stop_on_close and self.cluster_id is not None:
            try:
                self._down()
            except Exception as e:  # exiting anyway; the watchdog stops it if this failed
                logger.warning("could not stop cluster %s at exit: %s", self.name, e)
        self._forget_credentials()

    def _forget_credentials(self) -> None:
        if self._creds_dir is not None:
            shutil.rmtree(self._creds_dir, ignore_errors=True)
            self._creds_dir = None

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        self._loop_runner.stop()


def list_clusters() -> List[Dict[str, Any]]:
    """Every cluster the broker knows (as `skiff list --json`), newest last."""
    return SkiffCLI.find().json(["list", "--json"]) or []


def get_notifications(name: Optional[str] = None) -> List[Dict[str, Any]]:
    """State changes (with reasons: "stopped by user", "idle for 20m") and alerts, oldest first; of one cluster
    (name or id) or of all."""
    return SkiffCLI.find().json_lines(["notifications", *([name] if name else []), "--json"])
