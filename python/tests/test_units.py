"""The package's own pure parts: keyword arguments to flags, and the CLI's JSON errors to exceptions."""

from __future__ import annotations

import datetime

import skiff
import pytest

from skiff._cli import is_unknown_command
from skiff.sizing import WorkerSize, adaptive_bounds, workers_for
from skiff._flags import to_flags
from skiff.errors import error_from_json


def test_keyword_arguments_become_the_flags_of_the_same_name():
    assert to_flags({
        "n_workers": 0, "name": None, "backend": "aws", "worker_vm_types": ["m6i.large", "m5.large"],
        "scheduler_vm_type": "t3.medium", "idle_timeout": datetime.timedelta(minutes=20), "no_client_timeout": "2m",
        "packages": ["xarray==2024.1.0", "s3fs"], "give_workers_public_ip": True, "no_wait": False,
        "options": {"tags": {"team": "data"}}, "min_workers": -1,
    }) == [
        "--workers=0", "--backend=aws", "--worker-vm-types=m6i.large,m5.large", "--scheduler-vm-types=t3.medium",
        "--idle-timeout=1200", "--no-client-timeout=2m", "--packages=xarray==2024.1.0 s3fs",
        "--give-workers-public-ip", '--options={"tags": {"team": "data"}}', "--min-workers=-1",
    ]


def test_a_json_error_becomes_an_exception_of_its_kind():
    bad = error_from_json({"error": {"code": "CLI_USAGE", "message": "--workers must be from 0 to 1000; got -1",
                                     "status": 400, "retryable": False}})
    assert isinstance(bad, skiff.SkiffValueError) and isinstance(bad, ValueError)
    assert (bad.code, bad.status, bad.retryable) == ("CLI_USAGE", 400, False)
    assert str(bad) == "--workers must be from 0 to 1000; got -1 [CLI_USAGE]"
    busy = error_from_json({"error": {"code": "BRK_NOT_READY", "message": "starting", "status": 503, "retryable": True}})
    assert type(busy) is skiff.SkiffError and busy.retryable
    unknown = error_from_json({"error": {"code": "CLI_USAGE", "message": 'unknown command "scale"; commands: up', "status": 400}})
    assert is_unknown_command(unknown, "scale") and not is_unknown_command(unknown, "adapt")


def test_sizes_count_workers_as_distributeds_spec_cluster_does():
    # distributed's test_scale_memory_cores (LocalCluster, 2 threads and 2 GB per worker), the same counts.
    size = WorkerSize(memory=2 * 10**9, threads=2)
    assert workers_for(size, 0, cores=4) == 2
    assert workers_for(size, 0, memory="6GB") == 3
    assert workers_for(size, 0, cores=1) == 1
    assert workers_for(size, 0, memory="7GB") == 4
    # A count and a size: the larger.
    assert workers_for(size, 5, memory="6GB") == 5
    assert workers_for(WorkerSize(8 * 2**30, 4), 0, memory="8GiB") == 1
    assert workers_for(WorkerSize(8 * 2**30, 4), 0, memory="8GiB", cores=9) == 3
    # SpecCluster.adapt: a minimum by size rounds up, a maximum down; minimum defaults to 0.
    assert adaptive_bounds(size, None, 10, maximum_memory="7GB") == (0, 3)
    assert adaptive_bounds(size, 1, None, minimum_cores=5, maximum_cores=9) == (3, 4)
    # As distributed's test_scale_cores_memory: no memory known is a ValueError that says so.
    with pytest.raises(ValueError, match=r"scale\(memory=...\) needs a worker's memory"):
        workers_for(WorkerSize(None, 2), 0, memory="5GB")
    with pytest.raises(ValueError, match=r"adapt\(\) needs maximum="):
        adaptive_bounds(size, 0, None)
