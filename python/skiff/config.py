"""skiff's settings in Dask's configuration: ``skiff.yaml`` beside this module holds the defaults under ``skiff:``.

As dask-cloudprovider and dask-gateway do it: the package's YAML becomes Dask's defaults at import
(``dask.config.update_defaults``), below everything Dask reads itself (``~/.config/dask/*.yaml``, ``$DASK_CONFIG``,
``/etc/dask``, ``DASK_SKIFF__BACKEND=aws``) and ``dask.config.set``. ``Cluster`` reads them when it is made
(``dask.config.get("skiff.backend")``), and its keyword arguments win over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import dask.config
import yaml

DEFAULTS_FILE = Path(__file__).resolve().parent / "skiff.yaml"

with DEFAULTS_FILE.open(encoding="utf-8") as f:
    defaults: Dict[str, Any] = yaml.safe_load(f)

dask.config.update_defaults(defaults)


def settings() -> Dict[str, Any]:
    """Dask's ``skiff.*`` as it is now, keys in Python spelling (``n-workers`` → ``n_workers``)."""
    out: Dict[str, Any] = {}
    for key, value in (dask.config.get("skiff", default=None) or {}).items():
        out[str(key).replace("-", "_")] = value
    return out
