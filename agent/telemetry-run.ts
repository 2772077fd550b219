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
import type { DataAccessHolder } from './data-access/holder.js';
import { parseDataPayload } from '../broker/api/data-access.js';

export interface TelemetryRunOptions {
  brokerUrl: string;
  /** The broker's private CA, trusted alone for the telemetry WebSocket (as for every other call to the broker). */
  brokerCaPem?: string;
  listenHost: string;
  enrolment: EnrolResponse;
  keyFile: string;
  intervalMs: number;
  daskUp: () => boolean;
  /** Stop this machine (the fail-safe decided). */
  shutdown: (reason: string) => void;
  log: Logger;
  /** `fetch` for the scheduler's HTTP server (carrying its guard's token); the scheduler's agent only. */
  daskFetch?: typeof fetch;
  /** The data access this machine holds: the scheduler sends it to its workers, a worker receives it. */
  dataAccess?: DataAccessHolder;
}

/** The scheduler's message to its workers carrying the client's data access. */
const DATA_ACCESS_MESSAGE = 'data-access';

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
      greeting: () => {
        const p = o.dataAccess?.current();
        return p ? { type: DATA_ACCESS_MESSAGE, payload: p } : undefined;
      },
    });
    o.dataAccess?.onChange((p) => server.broadcast({ type: DATA_ACCESS_MESSAGE, payload: p }));
    const link = createLink({
      url: `${o.brokerUrl.replace(/^http/, 'ws')}${TELEMETRY_PATH}`,
      wsOptions: { headers: { authorization: `Bearer ${e.agentToken}` }, ...(o.brokerCaPem !== undefined ? { ca: o.brokerCaPem } : {}) },
      log,
    });
    const failSafe = createFailSafe({
      heartbeatLimitMs: e.failSafe.heartbeatTimeoutMs, idleTimeoutMs: e.failSafe.idleTimeoutMs, linkDownSinceMs: () => link.downSinceMs(),
      shutdown: o.shutdown, log, checkIntervalMs: o.intervalMs,
    });
    failSafe.start();
    const reporter = startSchedulerReporter({
      ...sources, aggregator, intervalMs: o.intervalMs, log,
      readDask: () => readDaskActivity(`http://127.0.0.1:${e.scheduler.httpPort}`, o.daskFetch ? { fetch: o.daskFetch } : {}),
      onDask: (a) => failSafe.observe(a),
      send: (s) => link.send(s),
    });
    return [() => reporter.stop(), () => failSafe.stop(), () => link.close(), () => server.close()];
  }

  const link = createLink({
    url: `wss://${e.scheduler.privateHost}:${e.scheduler.telemetryPort}/`,
    wsOptions: { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: true },
    log,
    onMessage: (text) => {
      // Only the scheduler of this cluster (its certificate verified by the link) talks back: data access.
      let m: { type?: unknown; payload?: unknown };
      try {
        m = JSON.parse(text) as typeof m;
      } catch {
        return log.warn({}, 'ignored a malformed message from the scheduler');
      }
      if (m.type !== DATA_ACCESS_MESSAGE || !o.dataAccess) return;
      try {
        o.dataAccess.set(parseDataPayload(m.payload, e.dataAccess?.secretEnv ?? []));
        log.info({}, 'data access received from the scheduler');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'ignored a malformed data-access message');
      }
    },
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
