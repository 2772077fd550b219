"""`pip install ./python` gives a package Debian's Python imports, needing nothing beyond distributed."""

from __future__ import annotations

import shutil
import subprocess

from conftest import DASK_PYTHON, PACKAGE_DIR


def test_pip_install_of_the_folder_gives_an_importable_skiff(tmp_path):
    # A copy: pip builds in the source tree, and the checkout stays as it is.
    src = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    # Debian's distributed (and pip, setuptools) come from the system; offline here, so no index.
    subprocess.run([DASK_PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120)
    r = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--no-index", "--no-build-isolation", "--quiet", str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    probe = "import skiff, distributed; print(skiff.__file__); print(skiff.__version__)"
    r = subprocess.run([str(venv / "bin/python"), "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, version = r.stdout.split()
    assert where.startswith(str(venv)), where
    assert version == "0.1.0"
    r = subprocess.run([str(venv / "bin/python"), "-m", "pip", "show", "skiff"], capture_output=True, text=True, timeout=60)
    assert "Requires: distributed, pyyaml\n" in r.stdout, r.stdout
