"""The wheel `npm run build` makes (dist/python/skiff-<version>-py3-none-any.whl) is skiff for a Python user.

Installed with pip into a fresh virtual environment, it is all that is needed besides Node.js 20: no checkout on
sys.path, no SKIFF_CLI, no `npm link`. A `node` too old, or none, is named in one clear error.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import textwrap
import zipfile
from pathlib import Path
from typing import Dict

import pytest

from conftest import DASK_PYTHON, REPO

VERSION = json.loads((REPO / "package.json").read_text())["version"]
WHEEL = REPO / "dist" / "python" / f"skiff-{VERSION}-py3-none-any.whl"
NODE = Path(subprocess.run(["node", "-p", "process.execPath"], capture_output=True, text=True, check=True).stdout.strip())


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with Debian's Dask visible (--system-site-packages) and the wheel installed, offline."""
    assert WHEEL.is_file(), f"{WHEEL} is missing: `npm run build` (or `npm run build:python`) makes it"
    path = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([DASK_PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], check=True, timeout=120)
    r = subprocess.run([str(path / "bin/python"), "-m", "pip", "install", "--no-index", "--quiet", str(WHEEL)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return path


def user_env(venv: Path, home_env: Dict[str, str], path: str) -> Dict[str, str]:
    """A user's shell: the venv active, the skiff home of the test, nothing of the checkout."""
    env = {k: v for k, v in home_env.items() if k not in ("SKIFF_CLI", "PYTHONPATH", "NODE_PATH", "VIRTUAL_ENV")}
    env.update({"PATH": path, "VIRTUAL_ENV": str(venv), "PYTHONNOUSERSITE": "1"})
    return env


def test_the_wheel_carries_package_json_version_a_console_script_and_a_true_record():
    with zipfile.ZipFile(WHEEL) as z:
        names = set(z.namelist())
        info = f"skiff-{VERSION}.dist-info"
        metadata = z.read(f"{info}/METADATA").decode()
        assert f"\nVersion: {VERSION}\n" in metadata and "\nRequires-Dist: distributed\n" in metadata
        assert z.read(f"{info}/entry_points.txt").decode() == "[console_scripts]\nskiff = skiff._cli:main\n"
        assert "Root-Is-Purelib: true\nTag: py3-none-any\n" in z.read(f"{info}/WHEEL").decode()
        assert {"skiff/__init__.py", "skiff/_cli.py", "skiff/cluster.py", "skiff/skiff.yaml",
                "skiff/_bundled/dist/broker/cli/main.js", "skiff/_bundled/dist/agent-bundle/agent/main.js"} <= names
        # Built from the package as it is (not an older wheel left in dist/).
        for f in sorted((REPO / "python/skiff").glob("*.*")):
            if f.suffix in (".py", ".yaml"):
                assert z.read(f"skiff/{f.name}") == f.read_bytes(), f"{f.name} changed since the wheel was built: npm run build:python"
        assert json.loads(z.read("skiff/_bundled/package.json"))["version"] == VERSION
        assert f'__version__ = "{VERSION}"' in z.read("skiff/__init__.py").decode()
        # RECORD names every other file with its SHA-256 and size (PEP 376), and nothing else.
        rows = list(csv.reader(io.StringIO(z.read(f"{info}/RECORD").decode())))
        assert {r[0] for r in rows} == names
        for name, digest, size in rows:
            if name == f"{info}/RECORD":
                assert (digest, size) == ("", "")
                continue
            data = z.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), name
            assert int(size) == len(data), name


def test_in_a_fresh_venv_the_wheel_alone_runs_a_cluster_that_computes(venv, skiff_home, tmp_path):
    env = user_env(venv, skiff_home.env, os.pathsep.join([str(venv / "bin"), str(NODE.parent), "/usr/bin", "/bin"]))
    probe = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        assert not any(p.startswith({str(REPO)!r}) for p in sys.path), sys.path
        import skiff
        from dask.distributed import Client
        assert skiff.__file__.startswith({str(venv)!r}), skiff.__file__
        with skiff.Cluster(n_workers=2, quiet=True) as cluster, Client(cluster) as client:
            total = client.submit(sum, range(100)).result()
            agents = [Path("/proc", p.read_text().strip(), "cmdline").read_bytes().split(b"\\0")[1].decode()
                      for p in Path({str(skiff_home.path)!r}, "machines", cluster.cluster_id).glob("*/agent.pid")]
            print(json.dumps({{"total": total, "workers": len(client.scheduler_info()["workers"]),
                               "cli": cluster._cli.argv0, "agents": agents, "id": cluster.cluster_id,
                               "version": skiff.__version__}}))
    """)
    r = subprocess.run([str(venv / "bin/python"), "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert (out["total"], out["workers"], out["version"]) == (4950, 2, VERSION)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # The CLI, the broker it started and every machine's agent run from the installed package, not the checkout.
    assert out["cli"] == [str(NODE), str(site / "skiff/_bundled/dist/broker/cli/main.js")]
    assert sorted(out["agents"]) == [str(site / "skiff/_bundled/dist/agent-bundle/agent/main.js")] * 3
    broker = Path(f"/proc/{skiff_home.broker_pid()}/cmdline").read_bytes().split(b"\0")
    assert broker[1].decode() == out["cli"][1]

    # The console script is the CLI: `skiff --help`, and the cluster as the CLI saw it (stopped by the `with`).
    r = subprocess.run(["skiff", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"skiff {VERSION}: a secure Dask cluster") and "usage: skiff <command>" in r.stdout
    r = subprocess.run(["skiff", "status", out["id"], "--json"], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "stopped"


def test_a_node_older_than_20_or_none_is_named_by_the_console_script_and_by_cluster(venv, skiff_home, tmp_path):
    fake = tmp_path / "old-node"
    fake.mkdir()
    (fake / "node").write_text("#!/bin/sh\necho v18.19.1\n")
    (fake / "node").chmod(0o755)
    cases = {"v18.19.1": [str(fake), str(venv / "bin"), "/usr/bin", "/bin"],
             "no `node` on PATH": [str(venv / "bin")]}
    for said, path in cases.items():
        env = user_env(venv, skiff_home.env, os.pathsep.join(path))
        r = subprocess.run([str(venv / "bin/skiff"), "--help"], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1 and r.stdout == "", r.stdout
        assert r.stderr.startswith("skiff: error: the skiff CLI in this package needs Node.js 20 or newer"), r.stderr
        assert said in r.stderr, r.stderr
        if said.startswith("v18"):
            assert f"{fake / 'node'} is v18.19.1" in r.stderr, r.stderr
        probe = "import skiff\ntry:\n    skiff.Cluster(n_workers=2)\nexcept skiff.SkiffNotInstalled as e:\n    print(e)\n"
        r = subprocess.run([str(venv / "bin/python"), "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert "needs Node.js 20 or newer" in r.stdout and said in r.stdout, r.stdout
    assert skiff_home.broker_pid() is None, "nothing started"
