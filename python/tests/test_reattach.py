"""A cluster outlives the Python that made it when asked to, and another Python attaches to it by name."""

from __future__ import annotations

import glob
import json
import os
import tempfile
import subprocess

import pytest

import skiff
from conftest import DASK_PYTHON

FIRST = """
import json, skiff
from dask.distributed import Client
with skiff.Cluster(n_workers=1, name="shared", shutdown_on_close=False) as cluster, Client(cluster) as client:
    result = client.submit(sum, range(100)).result()
print(json.dumps({"id": cluster.cluster_id, "result": result}))
"""

SECOND = """
import json, skiff
from dask.distributed import Client
cluster = skiff.Cluster.from_name("shared")
with Client(cluster) as client:
    result = client.submit(sum, range(10)).result()
    workers = len(client.scheduler_info()["workers"])
creds = cluster.security.tls_client_key
cluster.close()
print(json.dumps({"id": cluster.cluster_id, "result": result, "workers": workers, "key": creds}))
"""


def python(home, script):
    r = subprocess.run([DASK_PYTHON, "-c", script], env=home.python_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_from_name_in_a_second_process_attaches_computes_and_close_stops_it_for_good(skiff_home):
    first = python(skiff_home, FIRST)
    assert first["result"] == 4950
    # The first Python has exited; with shutdown_on_close=False its cluster still runs.
    assert skiff_home.cli_json("status", "shared")["state"] == "running"
    machines = skiff_home.machine_pids(first["id"])
    assert sorted(machines) == ["scheduler", "worker-1"]
    assert skiff_home.running_machine_processes(set(machines.values()))

    second = python(skiff_home, SECOND)
    assert second == {"id": first["id"], "result": 45, "workers": 1, "key": second["key"]}
    # Its own key pair, made for that process and removed with it.
    assert not second["key"].startswith(str(skiff_home.path))
    assert not os.path.exists(second["key"])
    assert skiff_home.cli_json("status", "shared")["state"] == "stopped"
    assert skiff_home.running_machine_processes(set(machines.values())) == []

    # Stopped now: attaching again is the broker's refusal, with its code (a conflict, not a bad value).
    with pytest.raises(skiff.SkiffError) as e:
        skiff.Cluster.from_name("shared")
    assert e.value.code == "BRK_CONFLICT"
    assert e.value.message == "cluster shared is stopped; credentials are issued for live clusters only"
    assert not isinstance(e.value, ValueError)
    assert glob.glob(os.path.join(tempfile.gettempdir(), "skiff-shared-*")) == [], "the refused attach kept no key"
