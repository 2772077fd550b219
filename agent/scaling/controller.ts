// On the scheduler's machine: follows what the broker asks about the worker count (GET AGENT_SCALE_PATH, every
// pollMs) and acts through Dask's own HTTP API on loopback:
//
//   retire request {count}  → POST /api/v1/retire_workers {"n"}: Dask picks (workers_to_close) and moves data
//   retire request {names}  → the named workers' addresses (get_workers), then retire_workers {"workers"}
//                           → report `retired` with the names Dask retired; the broker stops those machines
//   adaptive bounds         → every adaptIntervalMs GET /api/v1/adaptive_target, paced (adapt-policy.ts),
//                             and report `adapt` when the count should change
import type { Logger } from 'pino';
import type { AgentEvent, AgentScaleState } from '../../broker/api/wire.js';
import { adaptWorkers } from './adapt-policy.js';

export interface ScaleControllerOptions {
  /** Reads the broker's scale state (callBroker with the agent token). */
  readState: () => Promise<AgentScaleState>;
  report: (e: AgentEvent) => Promise<void>;
  /** The scheduler's HTTP server on loopback, e.g. http://127.0.0.1:8787. */
  httpBase: string;
  log: Logger;
  pollMs: number;
  adaptIntervalMs: number;
  coolDownMs: number;
  /** Bound on one retirement (Dask moves the workers' data first). Default 120 s. */
  retireTimeoutMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
}

export interface ScaleController {
  /** The worker count the broker asked for, once known: the scheduler watch polls fast until Dask has it. */
  wanted(): number | undefined;
  stop(): void;
}

export function startScaleController(o: ScaleControllerOptions): ScaleController {
  const f = o.fetch ?? fetch;
  const now = o.now ?? Date.now;
  const log = o.log.child({ component: 'scaling' });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wanted: number | undefined;
  let lastAdaptMs = 0;
  const answered = new Set<string>();
  // A retirement done whose report did not reach the broker: sent again at the next tick, not redone.
  let unreported: AgentEvent | undefined;

  const api = async <T>(path: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<T> => {
    const res = await f(`${o.httpBase}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
    return (await res.json()) as T;
  };

  const retire = async (r: NonNullable<AgentScaleState['retire']>): Promise<string[]> => {
    let body: unknown;
    if (r.names) {
      const known = await api<{ workers: Array<{ name: unknown; address: string }> }>('/api/v1/get_workers');
      const names = new Set(r.names);
      const addresses = known.workers.filter((w) => names.has(String(w.name))).map((w) => w.address);
      if (addresses.length === 0) return [];
      body = { workers: addresses };
    } else {
      if (!r.count) return [];
      body = { n: r.count };
    }
    const out = await api<Record<string, { name?: string | number }>>('/api/v1/retire_workers', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }, o.retireTimeoutMs ?? 120_000);
    return Object.entries(out).map(([address, info]) => String(info.name ?? address));
  };

  const tick = async (): Promise<void> => {
    if (unreported) {
      await o.report(unreported);
      unreported = undefined;
    }
    const state = await o.readState();
    wanted = state.workers;
    const r = state.retire;
    if (r && !answered.has(r.id)) {
      answered.add(r.id);
      const started = now();
      let names: string[] = [];
      try {
        names = await retire(r);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'retiring workers through Dask failed');
      }
      log.info({ asked: r.names ?? r.count, retired: names, ms: now() - started }, 'workers retired');
      unreported = { kind: 'retired', id: r.id, names };
      await o.report(unreported);
      unreported = undefined;
    }
    if (state.adaptive && now() - lastAdaptMs >= o.adaptIntervalMs) {
      lastAdaptMs = now();
      const { workers: target } = await api<{ workers: number }>('/api/v1/adaptive_target');
      const next = adaptWorkers({
        target, current: state.workers, bounds: state.adaptive, sinceChangeMs: now() - Date.parse(state.changedAt), coolDownMs: o.coolDownMs,
      });
      if (next !== state.workers) {
        log.info({ target, from: state.workers, to: next }, 'adaptive scaling asks for workers');
        await o.report({ kind: 'adapt', workers: next, target });
      }
    }
  };

  const loop = (): void => {
    if (stopped) return;
    tick()
      .catch((err: unknown) => log.debug({ err: (err as Error).message }, 'scaling check failed; next one soon'))
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(loop, o.pollMs);
        timer.unref();
      });
  };
  loop();
  return {
    wanted: () => wanted,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
