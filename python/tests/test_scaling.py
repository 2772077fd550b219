"""cluster.scale() and cluster.adapt(): the broker scales (adaptive decisions are made next to the scheduler).

Each test gets a running cluster and its client from the `running` fixture. The scaling commands
(`skiff scale`, `skiff adapt`) arrive with skiff's scaling; until then a skiff without them is one clear
NotImplementedError, which is what the test below shows (it is replaced by the scaling tests when they land).
"""

from __future__ import annotations

import pytest
from dask.distributed import Client

import skiff


@pytest.fixture
def running(skiff_home):
    """A local cluster with one worker, and a client of it; both closed (the cluster stopped) afterwards."""
    with skiff.Cluster(n_workers=1) as cluster, Client(cluster) as client:
        skiff_home.machine_pids(cluster.cluster_id)
        yield cluster, client


def test_scale_and_adapt_on_a_skiff_without_scaling_say_so(running):
    cluster, client = running
    with pytest.raises(NotImplementedError, match=r"cluster\.scale\(\) needs a skiff with `skiff scale`"):
        cluster.scale(3)
    with pytest.raises(NotImplementedError, match=r"cluster\.adapt\(\) needs a skiff with `skiff adapt`"):
        cluster.adapt(minimum=1, maximum=3)
    # Nothing changed: the cluster still computes on its one worker.
    assert client.submit(sum, range(100)).result() == 4950
    assert len(cluster.scheduler_info["workers"]) == 1
