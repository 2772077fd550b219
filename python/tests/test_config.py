"""Dask's configuration sets skiff.Cluster's options: a team's YAML file, DASK_SKIFF__* variables; a keyword wins.

Each case runs in a Python of its own, as a user's does: Dask reads its YAML files and DASK_* variables when it is
imported. Where the request itself is the outcome, the tool is a stand-in that records the command it was given
and refuses it, so nothing starts; where the real CLI can answer without starting anything, it answers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import yaml

from conftest import DASK_PYTHON, PACKAGE_DIR

# A `skiff` that writes the arguments it got to $RECORD_TO and refuses, as the real one refuses a bad request.
RECORDING_CLI = textwrap.dedent("""
    import json, os, sys
    with open(os.environ["RECORD_TO"], "w") as f:
        json.dump(sys.argv[1:], f)
    print(json.dumps({"error": {"code": "TEST_RECORDED", "message": "recorded", "status": 400, "retryable": False}}),
          file=sys.stderr)
    sys.exit(1)
""")

# Makes a cluster with the keyword arguments in argv[1] (JSON); prints the error's code.
MAKE_CLUSTER = textwrap.dedent("""
    import json, sys, skiff
    try:
        skiff.Cluster(quiet=True, **json.loads(sys.argv[1]))
    except skiff.SkiffError as e:
        print(e.code)
        print(e.message)
""")


def _clean_env(tmp_path: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "AWS_"))}
    env.update({"PYTHONPATH": str(PACKAGE_DIR), "SKIFF_HOME": str(tmp_path / "home"), "AWS_EC2_METADATA_DISABLED": "true",
                # Dask's own files only from the test's folder (not this machine's ~/.config/dask or /etc/dask).
                "DASK_CONFIG": str(tmp_path / "dask"), "DASK_ROOT_CONFIG": str(tmp_path / "dask-root")})
    (tmp_path / "dask").mkdir(exist_ok=True)
    return env


def _up_args(tmp_path: Path, env: Dict[str, str], **kwargs) -> List[str]:
    """The `skiff` command line skiff.Cluster(**kwargs) runs in a Python with this environment."""
    (tmp_path / "cli.py").write_text(RECORDING_CLI)
    record = tmp_path / "argv.json"
    env = dict(env, SKIFF_CLI=f"{sys.executable} {tmp_path / 'cli.py'}", RECORD_TO=str(record))
    r = subprocess.run([DASK_PYTHON, "-c", MAKE_CLUSTER, json.dumps(kwargs)], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split("\n")[0] == "TEST_RECORDED", r.stdout + r.stderr
    return json.loads(record.read_text())


def test_a_team_yaml_file_in_the_dask_config_folder_sets_the_options_and_a_keyword_wins(tmp_path):
    env = _clean_env(tmp_path)
    (tmp_path / "dask" / "team.yaml").write_text(textwrap.dedent("""
        skiff:
          backend: aws
          region: eu-west-1
          worker-vm-types: [m6i.large, m6a.large]
          n-workers: 4
          idle-timeout: 30m
          packages: ["xarray==2024.1.0", s3fs]
          env: {TEAM: data}
          forward-aws-credentials: false
          options: {tags: {team: data}}
    """))
    args = _up_args(tmp_path, env, n_workers=2, worker_vm_type=["c6i.large"])
    assert args[:2] == ["up", "--json"]
    assert sorted(args[2:]) == sorted([
        "--backend=aws", "--region=eu-west-1", "--idle-timeout=30m", "--packages=xarray==2024.1.0 s3fs",
        '--options={"tags": {"team": "data"}}', "--env=TEAM=data", "--no-forward-aws-credentials",
        # The keywords, over the file's n-workers and worker-vm-types (worker_vm_type is the same option).
        "--workers=2", "--worker-vm-types=c6i.large",
        # Not in the file: the package's defaults, and the Python that made the cluster.
        f"--python={DASK_PYTHON}",
    ]), args


def test_dask_skiff_variables_set_the_options_and_the_broker_hears_the_backend(tmp_path, skiff_home):
    env = _clean_env(tmp_path)
    env.update({"DASK_SKIFF__BACKEND": "aws", "DASK_SKIFF__SPOT_POLICY": "spot",
                "DASK_SKIFF__WORKER_VM_TYPES": '["g5.xlarge", "g6.xlarge"]', "DASK_SKIFF__N_WORKERS": "3"})
    args = _up_args(tmp_path, env)
    assert sorted(args[2:]) == sorted(["--backend=aws", "--spot-policy=spot", "--worker-vm-types=g5.xlarge,g6.xlarge",
                                       "--workers=3", f"--python={DASK_PYTHON}"]), args
    assert "--backend=local" in _up_args(tmp_path, env, backend="local")

    # The real tool: DASK_SKIFF__BACKEND=aws alone makes an aws cluster request, which (forwarding AWS credentials
    # by default on aws) stops at once here, where there are none; a local one would have started.
    env = dict(_clean_env(tmp_path), SKIFF_CLI=skiff_home.env["SKIFF_CLI"], SKIFF_HOME=str(skiff_home.path),
               SKIFF_PYTHON=DASK_PYTHON, DASK_SKIFF__BACKEND="aws",
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"))
    r = subprocess.run([DASK_PYTHON, "-c", MAKE_CLUSTER, "{}"], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    code, message = r.stdout.split("\n")[:2]
    assert code == "CLI_NO_AWS_CREDENTIALS", r.stdout + r.stderr
    assert "--no-forward-aws-credentials" in message


def test_every_skiff_up_option_has_a_config_key_in_skiff_yaml(skiff_home):
    r = skiff_home.cli("up", "--help")
    assert r.returncode == 0, r.stderr
    flags = set(re.findall(r"^  --([a-z][a-z0-9-]*)", r.stdout, re.M))
    assert {"workers", "backend", "worker-vm-types", "idle-timeout", "options"} <= flags, r.stdout
    # How Cluster spells them: --workers is n_workers (as Dask's clusters name it); --forward-aws-credentials and
    # --no-forward-aws-credentials are one key (true/false); --json and --no-wait are how Cluster runs `up`.
    expected = {"n-workers" if f == "workers" else f for f in flags} - {"no-forward-aws-credentials", "json", "no-wait"}
    keys = set(yaml.safe_load((PACKAGE_DIR / "skiff" / "skiff.yaml").read_text())["skiff"])
    assert keys - {"shutdown-on-close"} == expected
    assert yaml.safe_load((PACKAGE_DIR / "skiff" / "skiff.yaml").read_text())["skiff"]["backend"] == "local"
