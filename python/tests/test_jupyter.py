"""skiff.Cluster in Jupyter: the card (state, workers requested and connected, a fresh dashboard link, cost), the
widget's Scaling tab scaling the cluster, and the example notebook executed headless with jupyter nbconvert."""

from __future__ import annotations

import subprocess

import nbformat
from dask.distributed import Client

import skiff
import skiff.cluster
from conftest import DASK_PYTHON, REPO

NOTEBOOK = REPO / "python" / "examples" / "quickstart.ipynb"


def test_the_card_shows_state_requested_and_connected_workers_and_a_fresh_dashboard_link(skiff_home, monkeypatch):
    with skiff.Cluster(n_workers=1, worker_threads=1) as cluster, Client(cluster) as client:
        cluster.wait_for_workers(1, timeout=30)
        first = cluster._repr_html_()
        link = cluster.dashboard_link
        assert link.startswith("https://127.0.0.1:") and "token=" in link
        assert f'<a href="{link}" target="_blank">{link}</a>' in first
        assert "<strong>Workers:</strong> 1" in first
        assert "<strong>State:</strong> running (local)" in first
        assert "<strong>Workers requested:</strong> 1 (1 connected)" in first
        assert "<strong>Cost:</strong> none (runs on this computer)" in first
        assert cluster.name in first

        # Drawn again once the link is old: a new token, in the card as well.
        monkeypatch.setattr(skiff.cluster, "VIEW_REFRESH_S", 0.0)
        monkeypatch.setattr(skiff.cluster, "DASHBOARD_REFRESH_S", 0.0)
        again = cluster._repr_html_()
        fresh = cluster._dashboard
        assert fresh and fresh != link and f'href="{fresh}"' in again

        # The notebook shows distributed's widget with ipywidgets 7 or newer; Debian 12's 6.0 cannot build it (nor
        # do JupyterLab and nbclient speak its protocol), so the card is shown, as distributed does without ipywidgets.
        import ipywidgets
        shown = []
        monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
        cluster._ipython_display_()
        if int(ipywidgets.__version__.split(".")[0]) < 7:
            assert cluster._widget() is None
            [(bundle, kw)] = shown
            assert kw == {"raw": True} and bundle["text/plain"] == repr(cluster)
            assert "<strong>Workers requested:</strong> 1 (1 connected)" in bundle["text/html"]
        else:
            assert isinstance(cluster._widget(), ipywidgets.Widget)

        # The card follows scaling: the broker's requested count at once (the connected ones as they come).
        cluster.scale(2)
        assert "<strong>Workers requested:</strong> 2 (1 connected)" in cluster._repr_html_()
        cluster_id = cluster.cluster_id
    closed = cluster._repr_html_()
    assert "<strong>State:</strong> closed, cluster stopped (local)" in closed
    assert skiff_home.cli_json("status", cluster_id)["state"] == "stopped"


def _outputs(nb):
    """[(source, [output, ...])] of the executed notebook's code cells."""
    return [(c.source, c.outputs) for c in nb.cells if c.cell_type == "code"]


def test_the_example_notebook_runs_headless_with_nbconvert_on_a_local_cluster(skiff_home, tmp_path):
    env = skiff_home.python_env()
    # Jupyter's and IPython's own files of this run stay in the test's directory.
    env.update({"JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"), "IPYTHONDIR": str(tmp_path / "ipython"),
                "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"), "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    out = tmp_path / "executed.ipynb"
    # nbconvert on Debian's Python: its python3 kernel is that same interpreter, the one with distributed.
    r = subprocess.run([DASK_PYTHON, "-m", "nbconvert", "--to", "notebook", "--execute", str(NOTEBOOK),
                        "--ExecutePreprocessor.timeout=300", "--output-dir", str(tmp_path), "--output", out.name],
                       env=env, capture_output=True, text=True, timeout=480)
    assert r.returncode == 0, r.stderr[-4000:]
    cells = _outputs(nbformat.read(str(out), as_version=4))
    assert all(o.output_type != "error" for _, outs in cells for o in outs), [o for _, outs in cells for o in outs if o.output_type == "error"]
    by_source = {src: outs for src, outs in cells}

    card = [o for o in by_source["cluster"] if o.output_type == "display_data"]
    assert len(card) == 1, by_source["cluster"]
    html = card[0].data["text/html"]
    assert "<strong>Workers requested:</strong> 1 (1 connected)" in html
    assert "<strong>State:</strong> running (local)" in html
    assert 'href="https://127.0.0.1:' in html and "token=" in html

    def result(src_start):
        outs = next(outs for src, outs in cells if src.startswith(src_start))
        return next(o.data["text/plain"] for o in outs if o.output_type == "execute_result")

    assert result("db.from_sequence") == str(sum(x * x for x in range(1000)))
    assert result("cluster.scale(2)") == "2"
    assert result("logs = cluster.get_logs()") == "['Cluster', 'scheduler', 'worker-1', 'worker-2']"
    assert result("client.close()") == "'closed'"
    # The notebook closed its cluster: the broker has it stopped.
    assert [c["state"] for c in skiff.list_clusters()] == ["stopped"]
