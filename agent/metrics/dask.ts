// Dask's activity from the scheduler's own HTTP server (loopback on the scheduler machine). Debian's
// distributed 2022.12 has no prometheus_client, so /metrics is empty there; /json/counts.json has what the
// watchdog needs. Checked against a real 2022.12.1 scheduler:
//   {"clients": 1, "processing": 2, "tasks": 4, "waiting": 0, "unrunnable": 0, "memory": 0, "erred": 0,
//    "released": 0, "workers": 1, ...}
// "clients" includes the scheduler's internal fire-and-forget client (1 with nobody connected), and tasks
// the scheduler holds back (queued) appear only in "tasks", so queued = tasks − every listed state.

import { SkiffError } from '../../broker/api/errors.js';
import type { DaskActivity } from '../../broker/api/telemetry.js';

/** The scheduler's own client, always present in its client count. */
const INTERNAL_CLIENTS = 1;

export interface DaskCounts {
  clients?: number;
  processing?: number;
  waiting?: number;
  unrunnable?: number;
  memory?: number;
  erred?: number;
  released?: number;
  tasks?: number;
  workers?: number;
}

export function activityFromCounts(c: DaskCounts): DaskActivity {
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  const listed = n(c.processing) + n(c.waiting) + n(c.unrunnable) + n(c.memory) + n(c.erred) + n(c.released);
  return {
    tasksProcessing: n(c.processing),
    tasksQueued: n(c.waiting) + Math.max(0, n(c.tasks) - listed),
    tasksNoWorker: n(c.unrunnable),
    clients: Math.max(0, n(c.clients) - INTERNAL_CLIENTS),
    workers: n(c.workers),
  };
}

export async function readDaskActivity(httpBase: string, o: { timeoutMs?: number; fetch?: typeof fetch } = {}): Promise<DaskActivity> {
  const f = o.fetch ?? fetch;
  let body: unknown;
  try {
    const res = await f(`${httpBase}/json/counts.json`, { signal: AbortSignal.timeout(o.timeoutMs ?? 2000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (cause) {
    throw new SkiffError('AGT_PROCESS_FAILED', `could not read Dask activity from ${httpBase}/json/counts.json: ${(cause as Error).message}; is the scheduler running?`, { cause, retryable: true });
  }
  if (typeof body !== 'object' || body === null) throw new SkiffError('AGT_PROCESS_FAILED', `${httpBase}/json/counts.json did not return a JSON object`);
  return activityFromCounts(body);
}
