// Schema checks for telemetry messages, hand-written (no schema library): every field typed, every number
// finite and not negative, every string and array bounded. A message that fails is refused whole.

import type { DaskActivity, GpuSample, MachineMetrics, MachineReport, TelemetrySummary } from './telemetry.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const MAX_GPUS = 64;
const MAX_NAME = 200;

class Bad extends Error {}

const obj = (v: unknown, at: string): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad(`${at} must be an object`);
  return v as Record<string, unknown>;
};
const count = (o: Record<string, unknown>, k: string, at: string): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Bad(`${at}.${k} must be a number ≥ 0`);
  return v;
};
const pct = (o: Record<string, unknown>, k: string, at: string): number => {
  const v = count(o, k, at);
  if (v > 100) throw new Bad(`${at}.${k} must be a percentage (0..100)`);
  return v;
};
const str = (o: Record<string, unknown>, k: string, at: string): string => {
  const v = o[k];
  if (typeof v !== 'string' || v.length > MAX_NAME) throw new Bad(`${at}.${k} must be a string of at most ${MAX_NAME} characters`);
  return v;
};

function gpu(v: unknown, at: string): GpuSample {
  const o = obj(v, at);
  return {
    index: count(o, 'index', at), name: str(o, 'name', at), utilizationPct: pct(o, 'utilizationPct', at),
    memoryUsedMiB: count(o, 'memoryUsedMiB', at), memoryTotalMiB: count(o, 'memoryTotalMiB', at),
  };
}

function metrics(v: unknown): MachineMetrics {
  const o = obj(v, 'metrics');
  const at = 'metrics';
  return {
    cpuLoadPct: pct(o, 'cpuLoadPct', at), memUsedBytes: count(o, 'memUsedBytes', at), memTotalBytes: count(o, 'memTotalBytes', at),
    diskUsedBytes: count(o, 'diskUsedBytes', at), diskTotalBytes: count(o, 'diskTotalBytes', at),
    netRxBytesPerS: count(o, 'netRxBytesPerS', at), netTxBytesPerS: count(o, 'netTxBytesPerS', at),
  };
}

function dask(v: unknown): DaskActivity {
  const o = obj(v, 'dask');
  const at = 'dask';
  return {
    tasksProcessing: count(o, 'tasksProcessing', at), tasksQueued: count(o, 'tasksQueued', at), tasksNoWorker: count(o, 'tasksNoWorker', at),
    clients: count(o, 'clients', at), workers: count(o, 'workers', at),
  };
}

function parseJson(data: string | Buffer): unknown {
  try {
    return JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    throw new Bad('not JSON');
  }
}

function wrap<T>(fn: () => T): Parsed<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof Bad) return { ok: false, error: err.message };
    throw err;
  }
}

export function parseMachineReport(data: string | Buffer): Parsed<MachineReport> {
  return wrap(() => {
    const o = obj(parseJson(data), 'message');
    if (o['v'] !== 1 || o['kind'] !== 'machine') throw new Bad('message must have v 1 and kind "machine"');
    const gpus = o['gpus'];
    if (!Array.isArray(gpus) || gpus.length > MAX_GPUS) throw new Bad(`gpus must be an array of at most ${MAX_GPUS}`);
    if (typeof o['daskUp'] !== 'boolean') throw new Bad('daskUp must be true or false');
    return {
      v: 1, kind: 'machine', machine: str(o, 'machine', 'message'), atMs: count(o, 'atMs', 'message'), metrics: metrics(o['metrics']),
      gpus: gpus.map((g, i) => gpu(g, `gpus[${i}]`)), daskUp: o['daskUp'],
    };
  });
}

export function parseSummary(data: string | Buffer): Parsed<TelemetrySummary> {
  return wrap(() => {
    const o = obj(parseJson(data), 'message');
    if (o['v'] !== 1 || o['kind'] !== 'summary') throw new Bad('message must have v 1 and kind "summary"');
    const g = obj(o['gpus'], 'gpus');
    return {
      v: 1, kind: 'summary', atMs: count(o, 'atMs', 'message'), dask: dask(o['dask']), machines: count(o, 'machines', 'message'),
      cpuLoadPct: pct(o, 'cpuLoadPct', 'message'), memUsedBytes: count(o, 'memUsedBytes', 'message'), memTotalBytes: count(o, 'memTotalBytes', 'message'),
      gpus: {
        count: count(g, 'count', 'gpus'), avgUtilizationPct: pct(g, 'avgUtilizationPct', 'gpus'),
        memoryUsedMiB: count(g, 'memoryUsedMiB', 'gpus'), memoryTotalMiB: count(g, 'memoryTotalMiB', 'gpus'),
      },
    };
  });
}
