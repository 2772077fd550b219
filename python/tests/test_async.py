"""skiff.Cluster(asynchronous=True) as distributed's Cluster defines it: ``await cluster``, ``async with``,
``await cluster.scale(...)`` and ``Client(cluster, asynchronous=True)``, with the event loop never blocked by the
``skiff`` commands underneath (they run through asyncio's subprocess API)."""

from __future__ import annotations

import asyncio
import time

from dask.distributed import Client
from distributed.core import Status

import skiff

# The longest the event loop may go without running another task while a cluster starts, scales and stops
# (seconds). `skiff up` alone takes several seconds: run blocking, it would stall the loop that long.
MAX_LOOP_STALL_S = 2.0


def test_an_asynchronous_cluster_and_client_compute_and_the_loop_keeps_running(skiff_home):
    async def main():
        gaps = []
        done = asyncio.Event()

        async def heartbeat():
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.05)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        beating = asyncio.create_task(heartbeat())
        cluster = skiff.Cluster(n_workers=1, worker_threads=1, asynchronous=True)
        assert cluster.status == Status.created and cluster.cluster_id is None
        async with cluster:
            assert cluster.status == Status.running
            assert await cluster is cluster
            async with Client(cluster, asynchronous=True) as client:
                assert await client.submit(sum, range(100)) == 4950
                await cluster.scale(2)
                view = await asyncio.to_thread(skiff_home.cli_json, "status", cluster.cluster_id)
                assert view["workers"] == 2
                await cluster.wait_for_workers(2, timeout=180)
                assert len((await client.scheduler.identity())["workers"]) == 2
                assert await client.submit(sum, range(10)) == 45
                logs = await cluster.get_logs(scheduler=False, workers=False)
                assert list(logs) == ["Cluster"] and f"cluster {cluster.name} ready" in logs["Cluster"]
                assert "<strong>Workers requested:</strong> 2 (2 connected)" in cluster._repr_html_()
            cluster_id = cluster.cluster_id
        done.set()
        await beating
        return cluster, cluster_id, max(gaps)

    cluster, cluster_id, stall = asyncio.run(main())
    assert cluster.status == Status.closed
    assert skiff_home.cli_json("status", cluster_id)["state"] == "stopped"
    assert stall < MAX_LOOP_STALL_S, f"the event loop stalled {stall:.2f} s"
