"""Worker counts from sizes, as distributed's ``SpecCluster.scale``/``adapt`` count them: ``scale(memory="64GiB")``
asks for the fewest workers whose memory holds it, ``adapt(maximum_memory=...)`` for the most that fit. Pure."""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional, Tuple

from dask.utils import parse_bytes

# The most workers adapt() may ask for (as `skiff up --workers`).
MAX_WORKERS = 1000
# (what was asked, one worker's share of it); both None when nothing was asked.
Pair = Tuple[Optional[float], Optional[float]]


class WorkerSize(NamedTuple):
    """One worker's memory (bytes) and threads; None where not known."""

    memory: Optional[int]
    threads: Optional[int]


def _per_worker(size: Optional[WorkerSize], memory: Any, cores: Any, what: str) -> Tuple[Pair, Pair]:
    """(bytes asked, bytes per worker), (cores asked, threads per worker); ValueError when a size is unknown."""
    mem = per_mem = cpu = per_cpu = None
    if memory is not None:
        mem = parse_bytes(memory)
        if size is None or not size.memory:
            raise ValueError(f"{what}(memory=...) needs a worker's memory, which is not known before one has "
                             f"connected on this backend; ask for a worker count first (scale(1))")
        per_mem = size.memory
    if cores is not None:
        cpu = cores
        if size is None or not size.threads:
            raise ValueError(f"{what}(cores=...) needs a worker's threads, which are not known before one has "
                             f"connected (or --worker-threads is set); ask for a worker count first (scale(1))")
        per_cpu = size.threads
    return (mem, per_mem), (cpu, per_cpu)


def workers_for(size: Optional[WorkerSize], n: int, memory: Any = None, cores: Any = None, what: str = "scale") -> int:
    """Workers for at least `n`, `memory` ("8GiB", bytes) and `cores`, as distributed's SpecCluster.scale counts."""
    (mem, per_mem), (cpu, per_cpu) = _per_worker(size, memory, cores, what)
    if mem is not None:
        n = max(n, math.ceil(mem / per_mem))
    if cpu is not None:
        n = max(n, math.ceil(cpu / per_cpu))
    return n


def adaptive_bounds(size: Optional[WorkerSize], minimum: Optional[int], maximum: Optional[float],
                    minimum_memory: Any = None, maximum_memory: Any = None,
                    minimum_cores: Any = None, maximum_cores: Any = None) -> Tuple[int, int]:
    """(minimum, maximum) workers as distributed's SpecCluster.adapt bounds them: sizes round a minimum up and a
    maximum down; minimum defaults to 0; a maximum is required (skiff never adapts without a bound)."""
    lo = 0 if minimum is None else minimum
    hi = math.inf if maximum is None else maximum
    (mem, per_mem), (cpu, per_cpu) = _per_worker(size, minimum_memory, minimum_cores, "adapt")
    if mem is not None:
        lo = max(lo, math.ceil(mem / per_mem))
    if cpu is not None:
        lo = max(lo, math.ceil(cpu / per_cpu))
    (mem, per_mem), (cpu, per_cpu) = _per_worker(size, maximum_memory, maximum_cores, "adapt")
    if mem is not None:
        hi = min(hi, math.floor(mem / per_mem))
    if cpu is not None:
        hi = min(hi, math.floor(cpu / per_cpu))
    if hi == math.inf:
        raise ValueError(f"adapt() needs maximum= (or maximum_memory=, maximum_cores=), at most {MAX_WORKERS} "
                         f"workers: skiff never scales a cluster without a bound")
    return int(lo), int(hi)
