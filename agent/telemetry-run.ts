// Telemetry on a machine, wired together:
//
//   worker agent ──wss (cluster cert)──► scheduler agent ──ws (agent token)──► broker watchdog
//        │ machine report every few s        │ aggregates + Dask's own counts
//        └─ fail-safe: scheduler gone ─┐     └─ fail-safe: broker gone and idle ─┐
//                                      └──────────────► shutdown(reason) ◄───────┘
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { EnrolResponse } from '../broker/api/wire.js';
import { TELEMETRY_PATH } from '../broker/api/routes.js';
import { collectMachineMetrics } from './metrics/machine.js';
import { queryGpus } from './metrics/gpus.js';
import { readDaskActivity } from './metrics/dask.js';
import { createAggregator } from './telemetry/aggregate.js';
import { createTelemetryServer } from './telemetry/server.js';
import { createLink } from './telemetry/link.js';
import { createFailSafe } from './telemetry/fail-safe.js';
import { startSchedulerReporter, startWorkerReporter } from './telemetry/reporter.js';

export interface TelemetryRunOptions {
  brokerUrl: string;
  listenHost: string;
  enrolment: EnrolResponse;
  keyFile: string;
  intervalMs: number;
  daskUp: () => boolean;
  /** Stop this machine (the fail-safe decided). */
  shutdown: (reason: string) => void;
  log: Logger;
}

export async function startTelemetry(o: TelemetryRunOptions): Promise<Array<() => Promise<void> | void>> {
  const e = o.enrolment;
  const log = o.log.child({ component: 'telemetry' });
  const sources = {
    machine: e.machineName,
    collectMetrics: () => collectMachineMetrics(),
    queryGpus: () => queryGpus({ log }),
    daskUp: o.daskUp,
  };
  const tls = { certPem: e.certPem, keyPem: readFileSync(o.keyFile, 'utf8'), caPem: e.caPem };

  if (e.role === 'scheduler') {
    const aggregator = createAggregator();
    const server = await createTelemetryServer({
      host: o.listenHost, port: e.scheduler.telemetryPort, tls, onReport: (r) => aggregator.record(r, Date.now()), log,
    });
    const link = createLink({
      url: `${o.brokerUrl.replace(/^http/, 'ws')}${TELEMETRY_PATH}`,
      wsOptions: { headers: { authorization: `Bearer ${e.agentToken}` } },
      log,
    });
    const failSafe = createFailSafe({
      heartbeatLimitMs: e.failSafe.heartbeatTimeoutMs, idleTimeoutMs: e.failSafe.idleTimeoutMs, linkDownSinceMs: () => link.downSinceMs(),
      shutdown: o.shutdown, log, checkIntervalMs: o.intervalMs,
    });
    failSafe.start();
    const reporter = startSchedulerReporter({
      ...sources, aggregator, intervalMs: o.intervalMs, log,
      readDask: () => readDaskActivity(`http://127.0.0.1:${e.scheduler.httpPort}`),
      onDask: (a) => failSafe.observe(a),
      send: (s) => link.send(s),
    });
    return [() => reporter.stop(), () => failSafe.stop(), () => link.close(), () => server.close()];
  }

  const link = createLink({
    url: `wss://${e.scheduler.privateHost}:${e.scheduler.telemetryPort}/`,
    wsOptions: { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: true },
    log,
  });
  // A worker has no idle rule of its own: it stops when its scheduler has been gone for the heartbeat limit.
  const failSafe = createFailSafe({
    heartbeatLimitMs: e.failSafe.heartbeatTimeoutMs, idleTimeoutMs: 0, linkDownSinceMs: () => link.downSinceMs(), shutdown: o.shutdown, log,
    checkIntervalMs: o.intervalMs,
  });
  failSafe.start();
  const reporter = startWorkerReporter({ ...sources, intervalMs: o.intervalMs, send: (r) => link.send(r), log });
  return [() => reporter.stop(), () => failSafe.stop(), () => link.close()];
}
