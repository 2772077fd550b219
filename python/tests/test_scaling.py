"""cluster.scale() and cluster.adapt(): the broker scales, and adaptive decisions are made next to the scheduler
(its agent reads Dask's adaptive target), not by a client-side ``Adaptive``.
"""

from __future__ import annotations

import os
import time

import pytest
from dask.distributed import Client
from distributed.system import MEMORY_LIMIT

import skiff

# The scaling loops every second and a short cool-down, as the tap scaling tests run them.
FAST_SCALING = {
    "SKIFF_SCALE_INTERVAL_MS": "1000", "SKIFF_SCALE_POLL_MS": "300",
    "SKIFF_ADAPT_INTERVAL_MS": "1000", "SKIFF_ADAPT_COOLDOWN_MS": "2000",
}


def _fast_scaling(home, monkeypatch):
    for k, v in FAST_SCALING.items():
        monkeypatch.setenv(k, v)
        home.env[k] = v


@pytest.fixture
def running(skiff_home, monkeypatch):
    """A local cluster with one single-threaded worker, and a client of it; both closed (the cluster stopped) afterwards."""
    _fast_scaling(skiff_home, monkeypatch)
    with skiff.Cluster(n_workers=1, worker_threads=1) as cluster, Client(cluster) as client:
        skiff_home.machine_pids(cluster.cluster_id)
        yield cluster, client, skiff_home


def _workers(client: Client) -> int:
    return len(client.scheduler_info()["workers"])


def test_scale_up_and_down_then_adapt_under_a_queued_workload(running):
    cluster, client, home = running
    cluster.scale(3)
    client.wait_for_workers(3, timeout=180)
    assert _workers(client) == 3
    assert client.submit(sum, range(100)).result() == 4950

    cluster.scale(1)
    deadline = time.monotonic() + 120
    while _workers(client) != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _workers(client) == 1, "scale(1) retired two workers"

    # Adaptive scaling: 60 one-second tasks queued on one single-threaded worker make Dask's target the maximum (Dask
    # asks for a worker per 5 s of queued work), and there is work left while new workers start on a busy machine.
    cluster.adapt(minimum=1, maximum=3)

    def slow(i):
        import time as t
        t.sleep(1)
        return i

    futures = client.map(slow, range(60), pure=False)
    peak = 1
    deadline = time.monotonic() + 240
    while not all(f.done() for f in futures) and time.monotonic() < deadline:
        n = _workers(client)
        assert n <= 3, f"{n} workers: above the adaptive maximum"
        peak = max(peak, n)
        time.sleep(0.2)
    assert sorted(f.result() for f in futures) == list(range(60))
    assert peak == 3, "adaptive scaling reached the maximum under load"

    deadline = time.monotonic() + 150
    while _workers(client) != 1 and time.monotonic() < deadline:
        assert _workers(client) <= 3
        time.sleep(1)
    assert _workers(client) == 1, "adaptive scaling went back to the minimum once idle"

    # The broker's own bounds check arrives as a ValueError with its code; nothing changes.
    with pytest.raises(ValueError) as refused:
        cluster.adapt(minimum=3, maximum=1)
    assert isinstance(refused.value, skiff.SkiffError) and refused.value.code
    cluster.adapt(off=True)
    assert _workers(client) == 1


GIB = 2**30


def test_scale_by_memory_and_cores_asks_for_the_workers_that_size_needs(skiff_home, monkeypatch):
    _fast_scaling(skiff_home, monkeypatch)
    with skiff.Cluster(n_workers=0, worker_threads=1) as cluster, Client(cluster) as client:
        # No worker yet: one worker's size is this machine's, shared as Dask shares it (1 thread of all CPUs).
        cpus = os.cpu_count() or 1
        assert cluster.worker_size() == (int(MEMORY_LIMIT * min(1.0, 1 / cpus)), 1)
        assert cluster.scale(memory="8GiB") is None
        need = skiff_home.cli_json("status", cluster.cluster_id)["workers"]
        client.wait_for_workers(need, timeout=180)
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        # The fewest workers whose memory, as Dask's own workers report it, holds 8 GiB.
        assert len(limits) == need >= 1
        assert sum(limits) >= 8 * GIB > sum(limits) - min(limits), limits
        # Connected workers: their own figures.
        assert cluster.worker_size() == (min(limits), 1)

        # cores=: one thread per worker here; the larger of a count and a size wins.
        cluster.scale(1, cores=need + 1)
        assert skiff_home.cli_json("status", cluster.cluster_id)["workers"] == need + 1

        # adapt bounded by size: a minimum rounds up, a maximum down.
        cluster.adapt(minimum_cores=need + 1, maximum_memory=int(min(limits) * (need + 1.5)))
        assert skiff_home.cli_json("status", cluster.cluster_id)["adaptive"] == {"minimum": need + 1, "maximum": need + 1}
        cluster.adapt(off=True)
        assert "adaptive" not in skiff_home.cli_json("status", cluster.cluster_id)
