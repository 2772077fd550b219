"""skiff.Cluster as a Dask user meets it: `with` blocks, Client(cluster), logs, the dashboard, notifications."""

from __future__ import annotations

import http.cookiejar
import logging
import os
import ssl
import stat
import time
import urllib.parse
import urllib.request
import uuid

from dask.distributed import Client

import skiff
import skiff.cluster


def wait_until(what, fn, timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.5)


def test_with_cluster_and_client_computes_on_two_workers_and_leaves_no_process(skiff_home, caplog):
    caplog.set_level(logging.INFO, logger="skiff")
    with skiff.Cluster(n_workers=2) as cluster, Client(cluster) as client:
        assert client.submit(sum, range(100)).result() == 4950
        assert len(client.scheduler_info()["workers"]) == 2
        cluster.wait_for_workers(2, timeout=30)
        assert len(cluster.scheduler_info["workers"]) == 2
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        assert client.scheduler.address == cluster.scheduler_address
        assert repr(cluster).startswith(f"Cluster({cluster.name}, '{cluster.scheduler_address}', workers=2")
        html = cluster._repr_html_()
        assert cluster.name in html and "Workers" in html

        # Dask's own TLS with the cluster's credentials; the key was made on this machine, readable only by us,
        # and belongs to the certificate the broker signed.
        sec = cluster.security
        assert sec.require_encryption is True
        assert sec.tls_client_key.startswith(str(skiff_home.path))
        assert stat.S_IMODE(os.stat(sec.tls_client_key).st_mode) == 0o600
        ssl.create_default_context(cafile=sec.tls_ca_file).load_cert_chain(sec.tls_client_cert, sec.tls_client_key)

        machines = skiff_home.machine_pids(cluster.cluster_id)
        assert sorted(machines) == ["scheduler", "worker-1", "worker-2"]
        assert skiff_home.running_machine_processes(), "the agents and their Dask processes run"
        cluster_id = cluster.cluster_id

    assert skiff_home.running_machine_processes(set(machines.values())) == [], "leaving the block stopped every machine"
    assert skiff_home.cli_json("status", cluster_id)["state"] == "stopped"
    assert cluster.status.name == "closed"
    # Progress arrived as log lines, one per phase, from the broker's own wording.
    lines = [r.getMessage() for r in caplog.records if r.name == "skiff"]
    assert any("pending" in l for l in lines), lines
    assert any(l.endswith("running") for l in lines), lines
    assert any(l.startswith(f"stopping cluster {cluster.name}") for l in lines), lines


def _dashboard_opener(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    # A browser offers ALPN: that is how the gateway tells it from a Dask client.
    ctx.set_alpn_protocols(["http/1.1"])
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                       urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def test_logs_dashboard_and_the_idle_stop_reach_python(fast_home, monkeypatch):
    marker = f"skiff-python-marker-{uuid.uuid4().hex}"
    with skiff.Cluster(n_workers=1, idle_timeout="15s") as cluster:
        with Client(cluster) as client:
            # First a task (the idle limit counts from the last one); print itself: a function of this module
            # would not unpickle on the worker.
            client.submit(print, marker, flush=True, pure=False).result()
            # The dashboard link works as a browser uses it: the token is swapped for a cookie, then /health.
            link = cluster.dashboard_link
            assert link.startswith("https://127.0.0.1:") and "token=" in link
            assert client.dashboard_link == link
            opener = _dashboard_opener(cluster.security.tls_ca_file)
            with opener.open(link, timeout=15) as first:
                assert first.status == 200
            health_url = urllib.parse.urljoin(link, "/health")
            with opener.open(health_url, timeout=15) as health:
                assert (health.status, health.read()) == (200, b"ok")
            # A fresh token once the cached one is old: it opens the dashboard as well.
            monkeypatch.setattr(skiff.cluster, "DASHBOARD_REFRESH_S", 0.0)
            fresh = cluster.dashboard_link
            assert fresh != link and "token=" in fresh
            with _dashboard_opener(cluster.security.tls_ca_file).open(fresh, timeout=15) as again:
                assert again.status == 200

        logs = wait_until("the task's line in get_logs()",
                          lambda: (lambda l: l if marker in l.get("worker-1", "") else None)(cluster.get_logs()), 30)
        assert "scheduler" in logs, sorted(logs)
        # As distributed's get_logs: this object's own lines under "Cluster", and each part on its own.
        assert f"cluster {cluster.name} ready" in logs["Cluster"]
        assert cluster.get_logs(cluster=False, scheduler=False).keys() == {"worker-1"}
        assert cluster.get_logs(cluster=False, workers=["worker-2"]).keys() == {"scheduler"}

        # Nothing runs now: the broker's watchdog stops the cluster, and says why.
        stop = wait_until("the idle stop", lambda: next(
            (n for n in skiff.get_notifications(cluster.name) if n.get("state") == "stopped"), None), 60)
        assert stop["reason"] == "idle for 15s"
        assert stop in cluster.get_notifications()
        assert stop in skiff.get_notifications()

    # After the stop the logs are still there.
    assert marker in cluster.get_logs()["worker-1"]
    assert [c["state"] for c in skiff.list_clusters()] == ["stopped"]
