// `skiff scale NAME N` and `skiff adapt NAME --minimum A --maximum B | --off`. Both validate everything before
// they talk to the broker, so bad input changes nothing; the broker checks again (the cluster must be running).
import { SkiffError } from '../api/errors.js';
import { clusterPath } from '../api/routes.js';
import type { AdaptRequest, ClusterView, ScaleRequest } from '../api/wire.js';
import { formatDurationMs } from './args.js';
import { api, BROKER_FLAG, JSON_FLAG, type CliContext, type Command } from './common.js';

/** As `up --workers`. */
const MAX_WORKERS = 1000;
const DEFAULT_WAIT_MS = 15 * 60_000;

function workerCount(text: string, what: string): number {
  if (!/^\d{1,4}$/.test(text.trim()) || Number(text) > MAX_WORKERS) {
    throw new SkiffError('CLI_USAGE', `${what} must be a whole number from 0 to ${MAX_WORKERS}; got "${text}"`);
  }
  return Number(text);
}

function counts(c: ClusterView): string {
  return `${c.workersReady}/${c.workers} workers connected${c.workersRetiring ? `, ${c.workersRetiring} retiring` : ''}${c.adaptive ? ` (adaptive ${c.adaptive.minimum} to ${c.adaptive.maximum})` : ''}`;
}

const viewJson = (c: ClusterView) => JSON.stringify({
  id: c.id, name: c.name, state: c.state, workers: c.workers, workersReady: c.workersReady, adaptive: c.adaptive ?? null,
}) + '\n';

export const scaleCommand: Command = {
  synopsis: 'NAME|ID N [--no-wait] [--wait-timeout DURATION] [--json]',
  about: 'Grow or shrink a running cluster to N workers. New workers are launched with the cluster\'s own options; ' +
    'shrinking retires workers through Dask first (Dask picks which, their data moves to the others), then stops exactly those machines. ' +
    'Turns adaptive scaling off. Waits until Dask counts N workers, with progress.',
  flags: {
    'no-wait': { kind: 'boolean', help: 'return once the broker has the new count; the machines follow' },
    'wait-timeout': { kind: 'duration', help: 'stop waiting after this long (default 15m); the cluster keeps scaling' },
    json: JSON_FLAG,
    'broker-url': BROKER_FLAG,
  },
  async run(ctx: CliContext, positionals, flags) {
    if (positionals.length !== 2) throw new SkiffError('CLI_USAGE', '`skiff scale` takes a cluster name or id and a worker count, e.g. `skiff scale NAME 3`');
    const [ref, countText] = positionals as [string, string];
    const workers = workerCount(countText, 'the worker count');
    const waitMs = (flags['wait-timeout'] as number | undefined) ?? DEFAULT_WAIT_MS;
    const now = ctx.now ?? Date.now;
    const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const b = await api(ctx, flags, true);
    const before = await b.call<ClusterView>('GET', clusterPath(ref));
    const body: ScaleRequest = { workers };
    let c = await b.call<ClusterView>('POST', clusterPath(before.id, 'scale'), body);
    ctx.err(`skiff: scaling ${c.name} (${c.id}) from ${before.workers} to ${workers} worker${workers === 1 ? '' : 's'}${before.adaptive ? '; adaptive scaling is off' : ''}\n`);
    if (!flags['no-wait']) {
      const started = now();
      let last = '';
      for (;;) {
        const line = counts(c);
        if (line !== last) {
          ctx.err(`skiff: [${((now() - started) / 1000).toFixed(1)}s] ${line}\n`);
          last = line;
        }
        if (c.state !== 'running') {
          ctx.err(`skiff: cluster ${c.name} is ${c.state}${c.reason ? `: ${c.reason}` : ''}\n`);
          return 1;
        }
        if (c.workers !== workers) {
          ctx.err(`skiff: the requested count of ${c.name} changed to ${c.workers} meanwhile; not waiting for ${workers}\n`);
          break;
        }
        if (c.workersReady === workers && !c.workersRetiring) break;
        if (now() - started > waitMs) {
          ctx.err(`skiff: ${c.name} has ${counts(c)} after ${formatDurationMs(waitMs)}; it keeps scaling (\`skiff status ${c.name}\`, \`skiff notifications ${c.name}\`)\n`);
          return 1;
        }
        await sleep(500);
        c = await b.call<ClusterView>('GET', clusterPath(c.id));
      }
    }
    ctx.out(flags['json'] ? viewJson(c) : `${c.name} (${c.id}) ${c.state}  ${counts(c)}\n`);
    return 0;
  },
};

export const adaptCommand: Command = {
  synopsis: 'NAME|ID --minimum A --maximum B [--json]   |   NAME|ID --off',
  about: 'Adaptive scaling decided next to the scheduler: its agent reads Dask\'s own target every few seconds and asks for that many ' +
    'workers within [A, B]; it scales down by at most a quarter of the workers per step, after a cool-down. `skiff scale` turns it off.',
  flags: {
    minimum: { kind: 'int', help: 'fewest workers (0 or more)' },
    maximum: { kind: 'int', help: `most workers (up to ${MAX_WORKERS})` },
    off: { kind: 'boolean', help: 'turn adaptive scaling off; the cluster keeps its current count' },
    json: JSON_FLAG,
    'broker-url': BROKER_FLAG,
  },
  async run(ctx: CliContext, positionals, flags) {
    if (positionals.length !== 1) throw new SkiffError('CLI_USAGE', '`skiff adapt` takes one cluster name or id; see `skiff adapt --help`');
    const ref = positionals[0] as string;
    const min = flags['minimum'] as number | undefined;
    const max = flags['maximum'] as number | undefined;
    let body: AdaptRequest;
    if (flags['off']) {
      if (min !== undefined || max !== undefined) throw new SkiffError('CLI_USAGE', '`skiff adapt --off` takes no --minimum or --maximum');
      body = { off: true };
    } else {
      if (min === undefined || max === undefined) throw new SkiffError('CLI_USAGE', '`skiff adapt` needs --minimum A and --maximum B (or --off)');
      for (const [flag, v] of [['--minimum', min], ['--maximum', max]] as const) {
        if (v < 0 || v > MAX_WORKERS) throw new SkiffError('CLI_USAGE', `${flag} must be a whole number from 0 to ${MAX_WORKERS}; got ${v}`);
      }
      if (min > max) throw new SkiffError('CLI_USAGE', `--minimum ${min} is above --maximum ${max}; give a minimum no larger than the maximum`);
      body = { minimum: min, maximum: max };
    }
    const b = await api(ctx, flags, true);
    const target = await b.call<ClusterView>('GET', clusterPath(ref));
    const c = await b.call<ClusterView>('POST', clusterPath(target.id, 'adapt'), body);
    ctx.out(flags['json'] ? viewJson(c)
      : c.adaptive ? `${c.name} (${c.id}) adaptive: ${c.adaptive.minimum} to ${c.adaptive.maximum} workers; ${counts(c)}\n`
      : `${c.name} (${c.id}) adaptive scaling off; ${counts(c)}\n`);
    return 0;
  },
};
