"""Builds ``dist/python/skiff-<version>-py3-none-any.whl``: the Python package with the ``skiff`` CLI inside.

Standard library only (a wheel is a zip file with four metadata files, PEP 427), so it builds where PyPI is
unreachable. The version is package.json's: the npm package and the wheel are one release. Run it after
``npm run build`` and ``node python/bundle-cli.mjs`` (``npm run build:python`` runs both).

    skiff/*.py, skiff/skiff.yaml                       python/skiff/
    skiff/_bundled/package.json                        name, version, "type": "module"
    skiff/_bundled/dist/broker/cli/main.js             dist/python/cli/main.js (the CLI, one file)
    skiff/_bundled/dist/agent-bundle/agent/main.js     dist/agent-bundle/agent/main.js (what machines run)
    skiff-<version>.dist-info/METADATA, WHEEL, entry_points.txt, RECORD

Reproducible: entries in a fixed order with a fixed time, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "skiff"
CLI_BUNDLE = ROOT / "dist" / "python" / "cli" / "main.js"
AGENT_BUNDLE = ROOT / "dist" / "agent-bundle" / "agent" / "main.js"
OUT_DIR = ROOT / "dist" / "python"
# The bundled CLI's place in the package: where it finds the agent bundle and package.json (see bundle-cli.mjs).
BUNDLED = "skiff/_bundled"
# The earliest time a zip entry can carry; every entry carries it.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SUMMARY = "skiff.Cluster: a secure Dask cluster on this machine or in your own AWS account, from Python"
REQUIRES = ["distributed", "pyyaml"]


class BuildError(Exception):
    pass


def version() -> str:
    """package.json's version, after checking the Python sources say the same (one number for both)."""
    v = json.loads((ROOT / "package.json").read_text())["version"]
    init = re.search(r'^__version__ = "([^"]+)"$', (PACKAGE / "__init__.py").read_text(), re.M)
    project = re.search(r'^version = "([^"]+)"$', (ROOT / "python" / "pyproject.toml").read_text(), re.M)
    found = {"python/skiff/__init__.py": init and init.group(1), "python/pyproject.toml": project and project.group(1)}
    wrong = {k: got for k, got in found.items() if got != v}
    if wrong:
        raise BuildError(f"package.json's version is {v}, but " + ", ".join(f"{k} says {got}" for k, got in wrong.items())
                         + "; set the same version in each")
    return v


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def contents(v: str) -> List[Tuple[str, bytes]]:
    """(path in the wheel, bytes) of every file but RECORD, in the order they are written."""
    for f, how in ((CLI_BUNDLE, "node python/bundle-cli.mjs"), (AGENT_BUNDLE, "npm run build")):
        if not f.is_file():
            raise BuildError(f"{f.relative_to(ROOT)} is missing; run `{how}` first (`npm run build` does both)")
    files: List[Tuple[str, bytes]] = []
    for f in sorted(PACKAGE.rglob("*")):
        rel = f.relative_to(PACKAGE)
        if f.is_file() and "__pycache__" not in rel.parts and f.suffix not in (".pyc", ".pyo"):
            files.append((f"skiff/{rel.as_posix()}", f.read_bytes()))
    node_pkg = {"name": "skiff", "version": v, "private": True, "type": "module"}
    files += [
        (f"{BUNDLED}/package.json", (json.dumps(node_pkg, indent=2) + "\n").encode()),
        (f"{BUNDLED}/dist/broker/cli/main.js", CLI_BUNDLE.read_bytes()),
        (f"{BUNDLED}/dist/agent-bundle/agent/main.js", AGENT_BUNDLE.read_bytes()),
    ]
    info = f"skiff-{v}.dist-info"
    metadata = [
        "Metadata-Version: 2.1", "Name: skiff", f"Version: {v}", f"Summary: {SUMMARY}", "License: Apache-2.0",
        "Requires-Python: >=3.8", *(f"Requires-Dist: {r}" for r in REQUIRES),
        # Not a Python requirement pip can install: the bundled CLI runs on it.
        "Requires-External: node (>=20)", "Description-Content-Type: text/markdown", "",
        f"{SUMMARY}.\n\nNeeds Node.js 20 or newer on PATH: the `skiff` command-line tool is inside the package.\n",
    ]
    files += [
        (f"{info}/METADATA", "\n".join(metadata).encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: skiff build_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{info}/entry_points.txt", b"[console_scripts]\nskiff = skiff._cli:main\n"),
    ]
    return files


def build(out_dir: Path = OUT_DIR) -> Path:
    v = version()
    files = contents(v)
    record_name = f"skiff-{v}.dist-info/RECORD"
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in files) + f"{record_name},,\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"skiff-{v}-py3-none-any.whl"
    tmp = wheel.with_suffix(".whl.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files + [(record_name, record.encode())]:
            entry = zipfile.ZipInfo(name, ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(entry, data)
    tmp.replace(wheel)
    # Wheels of other versions would make `pip install dist/python/skiff-*.whl` ambiguous.
    for old in out_dir.glob("skiff-*-py3-none-any.whl"):
        if old != wheel:
            old.unlink()
    return wheel


def main() -> int:
    try:
        wheel = build()
    except BuildError as e:
        print(f"build_wheel: {e}", file=sys.stderr)
        return 1
    print(f"built {wheel.relative_to(ROOT)} ({wheel.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
