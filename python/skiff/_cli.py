"""Runs the ``skiff`` command-line tool, the one place where skiff's rules live.

Every call is ``skiff <command> ... --json`` as a child process: stdout is the answer (JSON), stderr carries
progress lines (``skiff: ...``, logged here) and, when the command is refused, one JSON line
``{"error": {"code", "message", "status", "retryable"}}`` that becomes a ``SkiffError`` with that code.

Where the tool is: ``$SKIFF_CLI`` (a command line, e.g. ``node /src/skiff/dist/broker/cli/main.js``), else
``skiff`` on PATH.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
from typing import Any, Callable, List, Mapping, Optional, Sequence

from .errors import SkiffError, SkiffNotInstalled, error_from_json

logger = logging.getLogger("skiff")

INSTALL_HINT = (
    "the skiff command-line tool was not found: the Python package drives it. Install it "
    "(in a skiff checkout: `npm install && npm run build && npm link`, which puts `skiff` on PATH), "
    "or set SKIFF_CLI to its command line, e.g. SKIFF_CLI='node /path/to/skiff/dist/broker/cli/main.js'"
)

# How long a command may take before it is stopped (seconds). `up` follows the broker's own start deadline and
# `down` waits for cloud machines to terminate, so theirs are long; the rest answer from the broker's store.
DEFAULT_TIMEOUT_S = 120.0
# A command told to stop (Ctrl-C, timeout) gets this long to exit before it is killed (seconds).
STOP_GRACE_S = 5.0

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
        """Runs one command and returns its stdout; raises SkiffError when it fails."""
        proc = self._start(args, subprocess.PIPE)
        error: List[dict] = []
        other: List[str] = []

        def read_stderr() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.rstrip("\n")
                if line.startswith('{"error"'):
                    try:
                        error.append(json.loads(line))
                        continue
                    except ValueError:
                        pass
                other.append(line)
                text = line[len("skiff: "):] if line.startswith("skiff: ") else line
                if text.startswith("warning: "):
                    progress(logging.WARNING, text[len("warning: "):])
                elif text.strip():
                    progress(logging.INFO, text)

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
            raise SkiffError(f"`skiff {' '.join(args[:2])}` did not finish within {timeout_s:g} s and was stopped",
                             code="CLI_TIMEOUT", retryable=True)
        except BaseException:
            # Ctrl-C or another interruption: the command must not outlive us (the broker's deadlines still hold).
            _stop(proc)
            raise
        for r in readers:
            r.join(STOP_GRACE_S)
        stdout = "".join(chunks)
        if proc.returncode != 0:
            if error:
                raise error_from_json(error[-1])
            told = [l[len("skiff: "):] if l.startswith("skiff: ") else l for l in other if l.strip()]
            raise SkiffError("\n".join(told[-20:]) or f"`skiff {' '.join(args[:1])}` exited with code {proc.returncode}")
        return stdout

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
        out = self.run(args, **kwargs).strip()
        return json.loads(out.splitlines()[-1]) if out else None

    def json_lines(self, args: Sequence[str], **kwargs: Any) -> List[Any]:
        return [json.loads(l) for l in self.run(args, **kwargs).splitlines() if l.strip()]


def _stop(proc: "subprocess.Popen[str]") -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def is_unknown_command(err: SkiffError, command: str) -> bool:
    """Whether the tool refused `command` as a command it does not have (an older skiff)."""
    return err.code == "CLI_USAGE" and err.message.startswith(f'unknown command "{command}"')
