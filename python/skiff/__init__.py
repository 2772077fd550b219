"""skiff from Python: ``skiff.Cluster(n_workers=2)`` is a secure Dask cluster on this machine or in your AWS account.

    import skiff
    from dask.distributed import Client

    with skiff.Cluster(n_workers=2) as cluster, Client(cluster) as client:
        print(client.submit(sum, range(100)).result())

The package drives the ``skiff`` command-line tool ($SKIFF_CLI, else the one a wheel carries, else ``skiff`` on
PATH), which holds every rule; errors come back as its own, with their code (``skiff.SkiffError.code``). Options
not passed to ``Cluster`` come from Dask's configuration under ``skiff.`` (see ``skiff.yaml`` beside this file).
"""

from .cluster import Cluster, get_notifications, list_clusters
from .errors import SkiffError, SkiffNotInstalled, SkiffValueError

__version__ = "0.1.0"

__all__ = ["Cluster", "SkiffError", "SkiffNotInstalled", "SkiffValueError", "get_notifications", "list_clusters"]
