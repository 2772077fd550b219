"""Python keyword arguments → ``skiff up`` flags, by one rule: ``foo_bar=value`` is ``--foo-bar=value``.

Only the spelling is translated here; what a value may be is the CLI's and the broker's to say (an unknown
option comes back as their own error, e.g. ``unknown option --frobnicate for `skiff up```).
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Dict, List

# Python names that differ from the flag they stand for.
RENAMED = {"n_workers": "workers", "scheduler_vm_type": "scheduler_vm_types", "worker_vm_type": "worker_vm_types"}
# Other spellings of one option, as Python names: a keyword argument and a config key of one option are one.
ALIASES = {"workers": "n_workers", "scheduler_vm_type": "scheduler_vm_types", "worker_vm_type": "worker_vm_types"}


def canonical(key: str) -> str:
    """The one Python name of an option, however given (``worker-vm-type`` → ``worker_vm_types``)."""
    key = key.replace("-", "_")
    return ALIASES.get(key, key)
# Flags whose list is space-separated (pip's syntax); every other list is comma-separated.
SPACE_SEPARATED = {"packages", "pip_extra_index_url"}


def _value(key: str, value: Any) -> str:
    if isinstance(value, datetime.timedelta):
        return f"{value.total_seconds():g}"  # the CLI reads a bare number as seconds
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, (list, tuple, set)):
        return (" " if key in SPACE_SEPARATED else ",").join(str(v) for v in value)
    return str(value)


def to_flags(options: Dict[str, Any]) -> List[str]:
    """``{"n_workers": 2, "spot_policy": "spot", "give_workers_public_ip": True}`` → ``--workers=2 ...``.

    None and False leave a flag out (its default holds); True is a bare flag.
    """
    out: List[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        name = RENAMED.get(key, key)
        flag = "--" + name.replace("_", "-")
        # `--flag=value`, not `--flag value`: a value such as -1 must reach the CLI's own check as given.
        out.append(flag if value is True else f"{flag}={_value(name, value)}")
    return out
