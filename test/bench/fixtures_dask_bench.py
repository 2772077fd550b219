"""Dask client side of the gateway benchmark: round trips and a 100 MB transfer to ADDRESS.
Prints one JSON line: {"rtt_us": median round trip, "mb_s": best-of-3 throughput of a 100 MB result}.

usage: fixtures_dask_bench.py ADDRESS CA CERT KEY
"""
import json
import statistics
import sys
import time

from dask.distributed import Client, Security, wait

address, ca, cert, key = sys.argv[1:5]
client = Client(address, security=Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True), timeout=30)

# Round trips: a no-op on the scheduler, client -> scheduler -> client.
for _ in range(20):
    client.run_on_scheduler(lambda: None)
samples = []
for _ in range(300):
    t0 = time.perf_counter()
    client.run_on_scheduler(lambda: None)
    samples.append(time.perf_counter() - t0)

# 100 MB computed on a worker, then fetched through the scheduler (the client is not direct to workers).
SIZE = 100 * 1000 * 1000
rates = []
for i in range(3):
    fut = client.submit(lambda n, i: b"x" * n, SIZE, i, pure=False)
    wait(fut)
    t0 = time.perf_counter()
    data = fut.result()
    elapsed = time.perf_counter() - t0
    assert len(data) == SIZE
    rates.append(SIZE / elapsed / 1e6)
    del data, fut
client.close()
print(json.dumps({"rtt_us": statistics.median(samples) * 1e6, "mb_s": max(rates)}))
