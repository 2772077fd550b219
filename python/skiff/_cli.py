"""Runs the ``skiff`` command-line tool, the one place where skiff's rules live.

Every call is ``skiff <command> ... --json`` as a child process: stdout is the answer (JSON), stderr carries
progress lines (``skiff: ...``, logged here) and, when the command is refused, one JSON line
``{"error": {"code", "message", "status", "retryable"}}`` that becomes a ``SkiffError`` with that code.

Where the tool is, first found: ``$SKIFF_CLI`` (a command line, e.g. ``node /src/skiff/dist/broker/cli/main.js``);
the CLI bundled in this package (a wheel built by ``npm run build:python``), run by ``node`` >= 20 from PATH; else
``skiff`` on PATH. The wheel's ``skiff`` console script is ``main()`` here: the bundled CLI with its arguments.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import SkiffError, SkiffNotInstalled, error_from_json

logger = logging.getLogger("skiff")

INSTALL_HINT = (
    "the skiff command-line tool was not found: the Python package drives it. Install the wheel, which carries it "
    "(in a skiff checkout: `npm install && npm run build`, then `pip install dist/python/skiff-*.whl`), "
    "or put `skiff` on PATH (`npm link`), or set SKIFF_CLI to its command line, "
    "e.g. SKIFF_CLI='node /path/to/skiff/dist/broker/cli/main.js'"
)
# The CLI a wheel carries (see python/bundle-cli.mjs for why it sits where dist/broker/cli/main.js would).
BUNDLED_CLI = Path(__file__).resolve().parent / "_bundled" / "dist" / "broker" / "cli" / "main.js"
# The oldest Node.js the CLI runs on (package.json "engines").
NODE_MAJOR_MIN = 20
NODE_HINT = "install Node.js 20 or newer (https://nodejs.org, or your system's package) and put `node` on PATH"

# How long a command may take before it is stopped (seconds). `up` follows the broker's own start deadline and
# `down` waits for cloud machines to terminate, so theirs are long; the rest answer from the broker's store.
DEFAULT_TIMEOUT_S = 120.0
# A command told to stop (Ctrl-C, timeout) gets this long to exit before it is killed (seconds).
STOP_GRACE_S = 5.0
# The longest stderr line read whole from a command run with asyncio (bytes): a failed cluster's last log lines.
MAX_LINE_BYTES = 1024 * 1024

Progress = Callable[[int, str], None]


def _log_progress(level: int, line: str) -> None:
    logger.log(level, "%s", line)


class SkiffCLI:
    """One way to start the tool (``argv0``), with the environment read when each command runs."""

    def __init__(self, argv0: Sequence[str]) -> None:
        self.argv0 = list(argv0)

    @classmethod
    def find(cls, env: Optional[Mapping[str, str]] = None) -> "SkiffCLI":
        env = os.environ if env is None else env
        given = env.get("SKIFF_CLI", "").strip()
        if given:
            argv0 = shlex.split(given)
            exe = argv0[0]
            if shutil.which(exe, path=env.get("PATH")) is None:
                raise SkiffNotInstalled(f"SKIFF_CLI is {given!r}, but {exe!r} is not an executable file; {INSTALL_HINT}")
            for arg in argv0[1:]:
                if arg.endswith(".js") and not os.path.isfile(arg):
                    raise SkiffNotInstalled(f"SKIFF_CLI is {given!r}, but {arg} does not exist (was it built?); {INSTALL_HINT}")
            return cls(argv0)
        if BUNDLED_CLI.is_file():
            return cls([find_node(env.get("PATH")), str(BUNDLED_CLI)])
        found = shutil.which("skiff", path=env.get("PATH"))
        if found is None:
            raise SkiffNotInstalled(INSTALL_HINT)
        return cls([found])

    def _start(self, args: Sequence[str], stderr: int) -> "subprocess.Popen[str]":
        try:
            return subprocess.Popen(self.argv0 + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                    text=True, encoding="utf-8", errors="replace")
        except (FileNotFoundError, PermissionError) as e:
            raise SkiffNotInstalled(f"cannot run {shlex.join(self.argv0)}: {e}; {INSTALL_HINT}") from e

    def run(self, args: Sequence[str], *, timeout_s: Optional[float] = DEFAULT_TIMEOUT_S,
            progress: Progress = _log_progress) -> str:
        """Runs one command and returns its stdout; raises SkiffError when it fails. Blocks the calling thread."""
        proc = self._start(args, subprocess.PIPE)
        told = _Stderr(progress)

        def read_stderr() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                told.line(raw)

        chunks: List[str] = []

        def read_stdout() -> None:
            assert proc.stdout is not None
            chunks.append(proc.stdout.read())

        readers = [threading.Thread(target=f, name=f"skiff-cli-{f.__name__}", daemon=True) for f in (read_stdout, read_stderr)]
        for r in readers:
            r.start()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise _timed_out(args, timeout_s)
        except BaseException:
            # Ctrl-C or another interruption: the command must not outlive us (the broker's deadlines still hold).
            _stop(proc)
            raise
        for r in readers:
            r.join(STOP_GRACE_S)
        return told.outcome(args, proc.returncode, "".join(chunks))

    async def run_async(self, args: Sequence[str], *, timeout_s: Optional[float] = DEFAULT_TIMEOUT_S,
                        progress: Progress = _log_progress) -> str:
        """As ``run``, with asyncio's subprocess API: the event loop goes on while the command runs. Cancelling the
        awaiting task stops the command (SIGINT, then SIGKILL after STOP_GRACE_S)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv0, *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                limit=MAX_LINE_BYTES)
        except (FileNotFoundError, PermissionError) as e:
            raise SkiffNotInstalled(f"cannot run {shlex.join(self.argv0)}: {e}; {INSTALL_HINT}") from e
        told = _Stderr(progress)

        async def read_stderr() -> None:
            assert proc.stderr is not None
            while True:
                raw = await proc.stderr.readline()
                if not raw:
                    return
                told.line(raw.decode("utf-8", errors="replace"))

        async def read_stdout() -> str:
            assert proc.stdout is not None
            return (await proc.stdout.read()).decode("utf-8", errors="replace")

        async def finish() -> str:
            out, _ = await asyncio.gather(read_stdout(), read_stderr())
            await proc.wait()
            return out

        try:
            stdout = await asyncio.wait_for(finish(), timeout_s)
        except asyncio.TimeoutError:
            await _stop_async(proc)
            raise _timed_out(args, timeout_s)
        except BaseException:
            # Cancelled (Ctrl-C in a blocking caller cancels it too): the command must not outlive the call.
            await asyncio.shield(_stop_async(proc))
            raise
        return told.outcome(args, proc.returncode, stdout)

    async def json_async(self, args: Sequence[str], **kwargs: Any) -> Any:
        return _last_json(await self.run_async(args, **kwargs))

    async def json_lines_async(self, args: Sequence[str], **kwargs: Any) -> List[Any]:
        return _json_lines(await self.run_async(args, **kwargs))

    def background(self, args: Sequence[str], progress: Progress = _log_progress) -> "subprocess.Popen[str]":
        """Starts a long-running command (``credentials --forward``); its lines go to ``progress`` at DEBUG level."""
        proc = self._start(args, subprocess.STDOUT)

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                if raw.strip():
                    progress(logging.DEBUG, raw.rstrip("\n"))

        threading.Thread(target=read, name="skiff-cli-background", daemon=True).start()
        return proc

    def json(self, args: Sequence[str], **kwargs: Any) -> Any:
        return _last_json(self.run(args, **kwargs))

    def json_lines(self, args: Sequence[str], **kwargs: Any) -> List[Any]:
        return _json_lines(self.run(args, **kwargs))


def _last_json(out: str) -> Any:
    out = out.strip()
    return json.loads(out.splitlines()[-1]) if out else None


def _json_lines(out: str) -> List[Any]:
    return [json.loads(l) for l in out.splitlines() if l.strip()]


class _Stderr:
    """A command's stderr as it arrives: ``skiff: ...`` progress lines to ``progress``, the JSON error line kept."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.error: List[dict] = []
        self.other: List[str] = []

    def line(self, raw: str) -> None:
        line = raw.rstrip("\n")
        if line.startswith('{"error"'):
            try:
                self.error.append(json.loads(line))
                return
            except ValueError:
                pass
        self.other.append(line)
        text = line[len("skiff: "):] if line.startswith("skiff: ") else line
        if text.startswith("warning: "):
            self.progress(logging.WARNING, text[len("warning: "):])
        elif text.strip():
            self.progress(logging.INFO, text)

    def outcome(self, args: Sequence[str], returncode: Optional[int], stdout: str) -> str:
        """stdout of a command that succeeded; the SkiffError of one that failed (its JSON error, else its last lines)."""
        if returncode == 0:
            return stdout
        if self.error:
            raise error_from_json(self.error[-1])
        told = [l[len("skiff: "):] if l.startswith("skiff: ") else l for l in self.other if l.strip()]
        raise SkiffError("\n".join(told[-20:]) or f"`skiff {' '.join(args[:1])}` exited with code {returncode}")


def _timed_out(args: Sequence[str], timeout_s: Optional[float]) -> SkiffError:
    return SkiffError(f"`skiff {' '.join(args[:2])}` did not finish within {timeout_s:g} s and was stopped",
                      code="CLI_TIMEOUT", retryable=True)


# {node path: (its file's mtime, its version)}: one `node --version` per node, not one per command.
_node_versions: Dict[str, Tuple[float, str]] = {}


def _node_version(node: str) -> str:
    mtime = os.stat(node).st_mtime
    known = _node_versions.get(node)
    if known is not None and known[0] == mtime:
        return known[1]
    try:
        r = subprocess.run([node, "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SkiffNotInstalled(f"the skiff CLI in this package needs Node.js {NODE_MAJOR_MIN} or newer; "
                                f"{node} --version failed: {e}; {NODE_HINT}") from e
    version = r.stdout.strip() or r.stderr.strip()
    _node_versions[node] = (mtime, version)
    return version


def find_node(path: Optional[str] = None) -> str:
    """``node`` on PATH, checked to be version 20 or newer; SkiffNotInstalled naming what was found otherwise."""
    node = shutil.which("node", path=path)
    if node is None:
        raise SkiffNotInstalled(f"the skiff CLI in this package needs Node.js {NODE_MAJOR_MIN} or newer, "
                                f"and there is no `node` on PATH; {NODE_HINT}")
    version = _node_version(node)
    m = re.match(r"v?(\d+)\.", version)
    if m is None or int(m.group(1)) < NODE_MAJOR_MIN:
        raise SkiffNotInstalled(f"the skiff CLI in this package needs Node.js {NODE_MAJOR_MIN} or newer, but {node} is "
                                f"{version or '(no version printed)'}; {NODE_HINT}")
    return node


def main() -> None:
    """The ``skiff`` console script: the CLI this package carries, run by ``node`` with this command's arguments."""
    if not BUNDLED_CLI.is_file():
        print(f"skiff: error: this installation of the skiff package has no bundled CLI ({BUNDLED_CLI} is missing); "
              f"{INSTALL_HINT}", file=sys.stderr)
        sys.exit(1)
    try:
        node = find_node()
    except SkiffNotInstalled as e:
        print(f"skiff: error: {e}", file=sys.stderr)
        sys.exit(1)
    # The CLI takes this process's place: signals, exit code and terminal are its own.
    os.execv(node, [node, str(BUNDLED_CLI), *sys.argv[1:]])


def _stop(proc: "subprocess.Popen[str]") -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _stop_async(proc: "asyncio.subprocess.Process") -> None:
    if proc.returncode is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
    except ProcessLookupError:
        pass
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


def is_unknown_command(err: SkiffError, command: str) -> bool:
    """Whether the tool refused `command` as a command it does not have (an older skiff)."""
    return err.code == "CLI_USAGE" and err.message.startswith(f'unknown command "{command}"')
