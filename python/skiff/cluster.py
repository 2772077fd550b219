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
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any, Dict, List, Optional, Sequence

from dask.utils import parse_timedelta
from distributed.core import Status, rpc
from distributed.objects import SchedulerInfo
from distributed.deploy.cluster import Cluster as DaskCluster
from distributed.security import Security
from distributed.utils import Log, Logs

from ._cli import SkiffCLI, is_unknown_command
from ._flags import canonical, to_flags
from .config import settings
from .errors import SkiffError

logger = logging.getLogger("skiff")

# A dashboard URL carries a token the broker mints (valid 1 h); a fresh one at most this often (seconds), so the
# notebook widget, which redraws twice a second, does not ask the broker each time.
DASHBOARD_REFRESH_S = 60.0
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
        self._dashboard: Optional[str] = None
        self._dashboard_at = 0.0
        self._refresher: Optional["subprocess.Popen[str]"] = None
        self._progress_level = logging.DEBUG if quiet else logging.INFO
        if not quiet:
            _default_handler()
        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet, name=name or "(starting)")
        if not self.asynchronous:
            # Blocking, in the calling thread: Ctrl-C reaches the `skiff` command at once.
            self._loop_runner.start()
            try:
                self._provision()
                self.sync(self._connect)
            except BaseException:
                self._loop_runner.stop()
                raise

    def __await__(self):
        async def start() -> "Cluster":
            if self.status == Status.created:
                await asyncio.get_running_loop().run_in_executor(None, self._provision)
                await self._connect()
            return self

        return start().__await__()

    def _progress(self, level: int, line: str) -> None:
        self._cluster_manager_logs.append((time.time(), line))
        logger.log(self._progress_level if level <= logging.INFO else level, "%s", line)

    def _provision(self) -> None:
        """`skiff up`, or `skiff status` + `skiff credentials` for a cluster that runs already."""
        self.status = Status.starting
        try:
            if self._up_args is not None:
                # `up` follows the broker's start deadline itself: no timeout of ours on top.
                info = self._cli.json(self._up_args, timeout_s=None, progress=self._progress)
                creds = info["credentials"]
            else:
                info = self._cli.json(["status", self._attach, "--json"], progress=self._progress)
                self._progress(logging.INFO, f"attaching to cluster {info['name']} ({info['id']}), {info['state']}")
                # The key is made by `skiff credentials` on this machine; it lives as long as this object. The
                # broker refuses a cluster that is not live (its own code and message).
                self._creds_dir = tempfile.mkdtemp(prefix=f"skiff-{info['name']}-")
                creds = self._cli.json(["credentials", info["id"], "--out", self._creds_dir, "--json"], progress=self._progress)
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
            self._dashboard, self._dashboard_at = info["dashboard"], time.monotonic()
        self.security = Security(tls_ca_file=creds["ca"], tls_client_cert=creds["cert"], tls_client_key=creds["key"],
                                 require_encryption=True)
        if (info.get("dataAccess") or {}).get("forwardAws") and info.get("state") in ("starting", "running"):
            # While this object lives, the cluster's AWS credentials are renewed at half their life, from here.
            self._refresher = self._cli.background(["credentials", info["id"], "--forward", "--json"], progress=self._progress)
        if self._stop_on_close or self._refresher is not None:
            _live.add(self)

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

    # -- what Dask users call ------------------------------------------------------------------------------

    @property
    def dashboard_link(self) -> str:
        """The dashboard through the cluster's gateway, with a fresh short-lived token."""
        if self.cluster_id is None:
            return ""
        if self._dashboard is None or time.monotonic() - self._dashboard_at > DASHBOARD_REFRESH_S:
            try:
                view = self._cli.json(["status", self.cluster_id, "--json"], progress=self._progress)
            except SkiffError as e:
                logger.warning("no fresh dashboard link for %s: %s", self.name, e)
                return self._dashboard or ""
            self._dashboard, self._dashboard_at = view.get("dashboard"), time.monotonic()
        return self._dashboard or ""

    def scale(self, n: int) -> None:
        """Ask the broker for `n` workers (it launches or retires machines; retiring moves their data first).

        Returns at once, as Dask's clusters do: ``client.wait_for_workers(n)`` waits for them.
        """
        self._scaling("scale", [str(n), "--no-wait"])

    def adapt(self, minimum: Optional[int] = None, maximum: Optional[int] = None, **options: Any) -> None:
        """Adaptive scaling between `minimum` and `maximum` workers, decided next to the scheduler (not by a
        client-side ``Adaptive``, so it keeps working when this process goes away). ``adapt(off=True)`` stops it.
        """
        self._scaling("adapt", to_flags({"minimum": minimum, "maximum": maximum, **options}))

    def _scaling(self, command: str, args: List[str]) -> None:
        if self.cluster_id is None:
            raise SkiffError(f"cluster {self.name} has not started yet")
        try:
            self._cli.run([command, self.cluster_id, *args, "--json"], progress=self._progress)
        except SkiffError as e:
            if is_unknown_command(e, command):
                raise NotImplementedError(
                    f"cluster.{command}() needs a skiff with `skiff {command}`; the installed one "
                    f"({' '.join(self._cli.argv0)}) has no such command. Update skiff") from e
            raise

    def wait_for_workers(self, n_workers: int, timeout: Optional[Any] = None) -> None:
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

    def get_logs(self, scheduler: bool = True, workers: bool = True, since: Optional[Any] = None,
                 filter: Optional[str] = None) -> Logs:
        """Every machine's log lines as ``{machine: text}`` (Dask's output, the agents', boot), from skiff's log
        store or CloudWatch; also after the cluster stopped. ``since``: e.g. "10m"; ``filter``: a substring."""
        if self.cluster_id is None:
            return Logs()
        lines = self._cli.json_lines(["logs", self.cluster_id, "--json", *to_flags({"since": since, "filter": filter})],
                                     progress=self._progress)
        by_machine: Dict[str, List[str]] = {}
        for e in lines:
            machine = e.get("machine", "")
            if (machine == "scheduler" and not scheduler) or (machine != "scheduler" and not workers):
                continue
            by_machine.setdefault(machine, []).append(e.get("message", ""))
        return Logs({m: Log("\n".join(ls)) for m, ls in sorted(by_machine.items())})

    def get_notifications(self) -> List[Dict[str, Any]]:
        """This cluster's state changes (with their reasons) and alerts, oldest first."""
        return self._cli.json_lines(["notifications", self.cluster_id or self.name, "--json"], progress=self._progress)

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
                await asyncio.get_running_loop().run_in_executor(None, self._down)
            self._forget_credentials()
            _live.discard(self)

    def _down(self) -> None:
        self._progress(logging.INFO, f"stopping cluster {self.name} ({self.cluster_id})")
        self._stop_on_close = False
        view = self._cli.json(["down", self.cluster_id, "--json"], timeout_s=DOWN_TIMEOUT_S, progress=self._progress)
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
