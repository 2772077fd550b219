// Ships everything this machine logs: the agent's own pino log, every line the Dask process prints and,
// on a VM, the boot log, into the cluster's log target (the local log store or CloudWatch), through the
// durable spool. The agent logs from its first line, before it knows the target (that comes with the
// enrolment), so its pino root writes into a bounded holding stream that is replayed once shipping starts.
import { Writable } from 'node:stream';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { LogTarget } from '../broker/api/wire.js';
import { createLocalSink, createLogShipper, logStreamFor, type LogShipper } from './logs/index.js';
import type { LogSink } from './logs/types.js';

const HOLD_MAX_LINES = 5000;
const RECENT_LINES = 40;

/** A pino destination that holds lines (at most HOLD_MAX_LINES, then counts drops) until attached. */
export function createHoldingDestination(): Writable & { attach(target: Writable): void; dropped(): number; recent(): string[] } {
  let target: Writable | undefined;
  let held: Buffer[] = [];
  let dropped = 0;
  // The last lines, also after attach: what a boot-failure report carries when the agent cannot start.
  const recent: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        recent.push(line);
        if (recent.length > RECENT_LINES) recent.shift();
      }
      if (target) return void target.write(chunk, cb);
      if (held.length < HOLD_MAX_LINES) held.push(chunk);
      else dropped++;
      cb();
    },
  });
  return Object.assign(w, {
    attach(t: Writable) {
      for (const chunk of held) t.write(chunk);
      held = [];
      target = t;
    },
    dropped: () => dropped,
    recent: () => [...recent],
  });
}

export interface LogShippingOptions {
  target: LogTarget;
  clusterId: string;
  machineId: string;
  spoolDir: string;
  log: Logger;
  /** Files to follow from their start (the VM's boot log). */
  follow?: Array<{ path: string; source: string }>;
}

export async function startLogShipping(o: LogShippingOptions): Promise<LogShipper> {
  const log = o.log.child({ component: 'logs' });
  let sink: LogSink;
  if (o.target.sink === 'cloudwatch') {
    // The AWS SDK loads only for machines that ship to CloudWatch.
    const { createCloudWatchLogsClient, createCloudWatchSink } = await import('./logs/cloudwatch-sink.js');
    sink = createCloudWatchSink({ client: createCloudWatchLogsClient({ region: o.target.region }), log, retentionDays: o.target.retentionDays });
  } else {
    sink = createLocalSink({ dir: o.target.dir });
  }
  const shipper = createLogShipper({ spoolDir: o.spoolDir, sink, group: o.target.group, stream: logStreamFor(o.clusterId, o.machineId), log });
  for (const f of o.follow ?? []) shipper.follow(f.path, f.source, { statePath: join(o.spoolDir, `${f.source}.pos`) });
  return shipper;
}
