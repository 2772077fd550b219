"""cluster.scale() and cluster.adapt(): the broker scales, and adaptive decisions are made next to the scheduler
(its agent reads Dask's adaptive target), not by a client-side ``Adaptive``.
"""

from __future__ import annotations

import time

import pytest
from dask.distributed import Client

import skiff

# The scaling loops every second and a short cool-down, as the tap scaling tests run them.
FAST_SCALING = {
    "SKIFF_SCALE_INTERVAL_MS": "1000", "SKIFF_SCALE_POLL_MS": "300",
    "SKIFF_ADAPT_INTERVAL_MS": "1000", "SKIFF_ADAPT_COOLDOWN_MS": "2000",
}


@pytest.fixture
def running(skiff_home, monkeypatch):
    """A local cluster with one single-threaded worker, and a client of it; both closed (the cluster stopped) afterwards."""
    for k, v in FAST_SCALING.items():
        monkeypatch.setenv(k, v)
        skiff_home.env[k] = v
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
