"""Fixtures shared by the Python package's tests: a skiff home of its own per test, and proof nothing is left.

Each test gets a fresh $SKIFF_HOME (its broker, clusters, machines and logs live there). When the test ends,
pass or fail, every cluster of that home is stopped, its broker stopped, and the home removed; a process of
that home still alive then (the broker from its pid file, a machine's agent or Dask process by the pids and
process groups the test saw) is killed and fails the test.

The tool under test is $SKIFF_CLI (the test/integration/python-client.test.ts runner sets it to the built CLI),
else this checkout's dist/.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "python"
DASK_PYTHON = "/usr/bin/python3"
# Telemetry and watchdog checks every second (tests that wait for the watchdog), as the tap tests do.
FAST_CHECK_MS = "1000"

# The package under test is the source tree, also in child Pythons the tests start.
sys.path.insert(0, str(PACKAGE_DIR))


def _default_cli() -> str:
    node = shutil.which("node") or "node"
    return f"{node} {REPO / 'dist/broker/cli/main.js'}"


def _stat(pid: int) -> Optional[Dict[str, Any]]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    rest = text[text.rindex(")") + 2:].split()
    return {"state": rest[0], "pgrp": int(rest[2])}


def alive(pid: int) -> bool:
    s = _stat(pid)
    return s is not None and s["state"] not in ("Z", "X")


def group_members(pgrp: int) -> List[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = _stat(int(entry))
            if s is not None and s["pgrp"] == pgrp and s["state"] not in ("Z", "X"):
                out.append(int(entry))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "(gone)"


class Home:
    """One $SKIFF_HOME and the processes seen in it."""

    def __init__(self, path: Path, env: Dict[str, str]) -> None:
        self.path = path
        self.env = env
        # Agent pids (each leads the process group of its Dask process) and broker pids this test has seen.
        self.machine_groups: Set[int] = set()
        self.broker_pids: Set[int] = set()

    def cli(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
        """The tool itself, as a user would run it in this home."""
        cmd = shlex.split(self.env["SKIFF_CLI"]) + list(args)
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout_s)

    def cli_json(self, *args: str) -> Any:
        r = self.cli(*args, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def broker_pid(self) -> Optional[int]:
        try:
            pid = int(json.loads((self.path / "broker/broker.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None
        self.broker_pids.add(pid)
        return pid

    def machine_pids(self, cluster_id: str) -> Dict[str, int]:
        """{machine: agent pid} from the local backend's pid files (they go when the machine stops)."""
        out = {}
        for f in sorted((self.path / "machines" / cluster_id).glob("*/agent.pid")):
            out[f.parent.name] = int(f.read_text())
        self.machine_groups.update(out.values())
        self.broker_pid()
        return out

    def running_machine_processes(self, groups: Optional[Set[int]] = None) -> List[int]:
        return sorted({p for g in (groups or self.machine_groups) for p in group_members(g)})

    def python_env(self) -> Dict[str, str]:
        """For a child Python that uses the package from this checkout."""
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_DIR), env.get("PYTHONPATH")]))
        return env

    def cleanup(self) -> List[str]:
        """Stops everything of this home; returns what had to be killed (empty when all stopped by itself)."""
        leftovers: List[str] = []
        try:
            if self.broker_pid() is not None:
                r = self.cli("list", "--json", timeout_s=60)
                for c in json.loads(r.stdout) if r.returncode == 0 else []:
                    self.machine_pids(c["id"])
                    if c["state"] != "stopped":
                        self.cli("down", c["id"], timeout_s=120)
                self.broker_pid()
                self.cli("broker", "stop", timeout_s=60)
        finally:
            deadline = time.monotonic() + 10
            pending = lambda: [p for p in self.broker_pids if alive(p)] + self.running_machine_processes()  # noqa: E731
            while pending() and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in pending():
                leftovers.append(f"pid {pid}: {_cmdline(pid)}")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.path, ignore_errors=True)
        return leftovers


def make_env(home: Path, fast: bool = False) -> Dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SKIFF_HOME": str(home),
        "SKIFF_PYTHON": DASK_PYTHON,
        "SKIFF_CLI": os.environ.get("SKIFF_CLI") or _default_cli(),
        "AWS_EC2_METADATA_DISABLED": "true",
        # pip on the machines asks only a closed local port (never PyPI): this Python's packages are reused.
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": "/dev/null", "PIP_CACHE_DIR": str(home / "pip-cache"),
    })
    for k in ("SKIFF_BROKER_URL", "SKIFF_API_KEY", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    if fast:
        env.update({"SKIFF_TELEMETRY_INTERVAL_MS": FAST_CHECK_MS, "SKIFF_WATCHDOG_INTERVAL_MS": FAST_CHECK_MS})
    return env


def _home(monkeypatch: pytest.MonkeyPatch, fast: bool):
    path = Path(tempfile.mkdtemp(prefix="skiff-py-"))
    h = Home(path, make_env(path, fast))
    for k in list(os.environ):
        if k not in h.env:
            monkeypatch.delenv(k)
    for k, v in h.env.items():
        monkeypatch.setenv(k, v)
    return h


@pytest.fixture
def skiff_home(monkeypatch: pytest.MonkeyPatch):
    """A fresh $SKIFF_HOME for this test (this process's environment points at it); all of it gone afterwards."""
    h = _home(monkeypatch, fast=False)
    yield h
    left = h.cleanup()
    assert not left, f"processes were left running and had to be killed: {left}"


@pytest.fixture
def fast_home(monkeypatch: pytest.MonkeyPatch):
    """As skiff_home, with telemetry and watchdog checks every second (tests that wait for the watchdog)."""
    h = _home(monkeypatch, fast=True)
    yield h
    left = h.cleanup()
    assert not left, f"processes were left running and had to be killed: {left}"
