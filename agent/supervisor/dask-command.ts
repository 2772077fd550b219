// The Dask command lines the agent supervises. Pure: config in, argv and environment out.
//
// Both sides run with TLS from the cluster CA and require_encryption, so nothing connects to Dask without
// a certificate the broker signed for this cluster, and the scheduler admits as workers only the worker
// certificates of this cluster (its --preload, admission-plugin.ts). Every Dask HTTP server binds to loopback:
// the scheduler's (dashboard, /health, /metrics, /json) is reached from outside solely through the gateway, and
// a worker's (which Dask starts despite --no-dashboard) serves no route at all. The scheduler's answers only
// requests carrying the agent's token (http-guard-plugin.ts), so a local user cannot use it either.

import { INTERMEDIATE_TLS } from '../gateway/tls-policy.js';
import { availableParallelism } from 'node:os';
import type { SchedulerEndpoints } from '../../broker/api/wire.js';
import { ADMISSION_CLUSTER_ENV } from './admission-plugin.js';
import { DASK_HTTP_TOKEN_ENV } from './http-guard-plugin.js';

export interface DaskTls {
  ca: string;
  cert: string;
  key: string;
}

export interface DaskCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

const TLS_ENV = {
  DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: 'True',
  // Dask's own listeners and connections take the gateway's profile (Mozilla intermediate): TLS 1.2+, and in 1.2
  // only forward-secret AEAD suites (Python's default list also has CBC and DHE ones). 1.3's suites are all AEAD.
  DASK_DISTRIBUTED__COMM__TLS__MIN_VERSION: '1.2',
  DASK_DISTRIBUTED__COMM__TLS__CIPHERS: INTERMEDIATE_TLS.ciphers,
  // Keep Python's output line-buffered so every log line reaches the agent as soon as it is printed.
  PYTHONUNBUFFERED: '1',
};

function tlsArgs(tls: DaskTls): string[] {
  return ['--tls-ca-file', tls.ca, '--tls-cert', tls.cert, '--tls-key', tls.key];
}

/**
 * The scheduler's HTTP routes: Dask's defaults plus its API (adaptive_target, retire_workers), which the agent's
 * scaling controller calls on loopback. The gateway does not pass /api/ through: users reach it only by Dask.
 */
export const SCHEDULER_HTTP_ROUTES = [
  'distributed.http.scheduler.prometheus', 'distributed.http.scheduler.info', 'distributed.http.scheduler.json',
  'distributed.http.health', 'distributed.http.proxy', 'distributed.http.statics', 'distributed.http.scheduler.api',
];

export function buildSchedulerCommand(o: {
  python: string;
  listenHost: string;
  scheduler: SchedulerEndpoints;
  tls: DaskTls;
  clusterId: string;
  /** The worker admission module written by writeAdmissionPlugin. */
  admissionPlugin: string;
  /** The HTTP guard module (writeHttpGuardPlugin) and the token it requires of every HTTP request. */
  httpGuard: { plugin: string; token: string };
}): DaskCommand {
  return {
    command: o.python,
    args: [
      '-m', 'dask', 'scheduler',
      '--protocol', 'tls',
      '--host', o.listenHost,
      '--port', String(o.scheduler.daskPort),
      '--dashboard-address', `127.0.0.1:${o.scheduler.httpPort}`,
      '--preload', o.admissionPlugin,
      '--preload', o.httpGuard.plugin,
      ...tlsArgs(o.tls),
    ],
    // Dask reads a list from the environment as a Python literal. The token goes by the environment, never argv.
    env: {
      ...TLS_ENV, [ADMISSION_CLUSTER_ENV]: o.clusterId, [DASK_HTTP_TOKEN_ENV]: o.httpGuard.token,
      DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES: JSON.stringify(SCHEDULER_HTTP_ROUTES),
    },
  };
}

export function buildWorkerCommand(o: {
  python: string;
  listenHost: string;
  scheduler: SchedulerEndpoints;
  tls: DaskTls;
  name: string;
  localDirectory: string;
  /** Threads of the worker: what the broker sent (the instance type's vCPUs or --worker-threads), else all CPUs. */
  nthreads?: number;
  /** CPUs this machine offers (default os.availableParallelism()). */
  cpus?: () => number;
}): DaskCommand {
  const nthreads = o.nthreads !== undefined && Number.isSafeInteger(o.nthreads) && o.nthreads > 0 ? o.nthreads : (o.cpus ?? availableParallelism)();
  return {
    command: o.python,
    args: [
      '-m', 'dask', 'worker',
      `tls://${o.scheduler.privateHost}:${o.scheduler.daskPort}`,
      '--name', o.name,
      '--host', o.listenHost,
      // The agent is the supervisor: a nanny process would only double the memory and start-up time.
      '--no-nanny',
      '--nthreads', String(nthreads),
      '--no-dashboard',
      // Dask starts the worker's HTTP server anyway, on every address by default.
      '--dashboard-address', '127.0.0.1:0',
      '--local-directory', o.localDirectory,
      ...tlsArgs(o.tls),
    ],
    // No routes on the worker's HTTP server: nothing of skiff reads it, and any local user could.
    env: { ...TLS_ENV, DASK_DISTRIBUTED__WORKER__HTTP__ROUTES: '[]' },
  };
}
