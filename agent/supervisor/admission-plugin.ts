// The scheduler's worker admission: a Python module the agent writes beside its certificates and loads into
// `dask scheduler` with --preload. Dask alone lets any certificate of the cluster's CA register as a worker
// (a user's client certificate too) and then gives it tasks and their data. The broker names every certificate
// it signs in the subject: O = the cluster id, OU = the holder's role (scheduler, worker, user); see
// broker/pki/sign.ts. The module admits a register-worker request only from a TLS peer whose verified
// certificate says OU=worker and O=<this cluster>, and answers anything else as Dask answers a taken name
// (status error), so the caller's worker fails to start and is never given a task.
//
// It patches Scheduler.add_worker when it is imported: Dask imports preloads in Scheduler.__init__, before the
// handler table is built and before any listener opens, so there is no moment at which a worker could register
// unchecked. A module that cannot arm itself (no cluster id) raises, and the scheduler does not start.

import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable that gives the module its cluster id. */
export const ADMISSION_CLUSTER_ENV = 'SKIFF_CLUSTER_ID';
export const ADMISSION_FILE = 'skiff_worker_admission.py';

export const ADMISSION_PLUGIN = `"""skiff: admit as Dask workers only the worker certificates of this cluster (written by the skiff agent)."""
import logging
import os
from time import time

from distributed.scheduler import Scheduler

logger = logging.getLogger("distributed.skiff.admission")

CLUSTER_ID = os.environ.get("${ADMISSION_CLUSTER_ENV}", "")
if not CLUSTER_ID:
    raise RuntimeError("skiff worker admission: ${ADMISSION_CLUSTER_ENV} is not set; refusing to start unprotected")


def subject_of(comm):
    """The verified peer certificate's subject as {attribute: [values]}, or None without one."""
    extra = getattr(comm, "extra_info", None) or {}
    cert = extra.get("peercert") or {}
    subject = cert.get("subject")
    if not subject:
        return None
    out = {}
    for rdn in subject:
        for name, value in rdn:
            out.setdefault(name, []).append(value)
    return out


def refusal(comm):
    """Why this peer may not be a worker of this cluster, or None when it may."""
    subject = subject_of(comm)
    if subject is None:
        return "no verified TLS client certificate"
    if subject.get("organizationName") != [CLUSTER_ID]:
        return "certificate is not of cluster " + CLUSTER_ID
    if subject.get("organizationalUnitName") != ["worker"]:
        return "certificate is a %s certificate, not a worker's" % "/".join(subject.get("organizationalUnitName", ["unnamed"]))
    return None


# Dask imports (and reloads) a preload module more than once: wrap the original method, never a wrapper.
_add_worker = getattr(Scheduler, "_skiff_original_add_worker", Scheduler.add_worker)
Scheduler._skiff_original_add_worker = _add_worker


async def add_worker(self, comm, *args, **kwargs):
    why = refusal(comm)
    if why is not None:
        cn = "/".join((subject_of(comm) or {}).get("commonName", ["?"]))
        logger.warning("skiff refused worker %s (certificate %s): %s", kwargs.get("address"), cn, why)
        await comm.write({"status": "error", "message": "skiff: not a worker of this cluster: " + why, "time": time()})
        return None
    return await _add_worker(self, comm, *args, **kwargs)


add_worker.__doc__ = _add_worker.__doc__
Scheduler.add_worker = add_worker


def dask_setup(scheduler):
    logger.info("skiff worker admission armed for cluster %s", CLUSTER_ID)
`;

/** Writes the module into `dir` (atomically, owner-only) and gives its path for --preload. */
export function writeAdmissionPlugin(dir: string): string {
  const path = join(dir, ADMISSION_FILE);
  writeFileSync(`${path}.tmp`, ADMISSION_PLUGIN, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return path;
}
