// GPUs from nvidia-smi, run asynchronously with a timeout (systeminformation's graphics() runs it
// synchronously and blocks the event loop; nvidia-smi can hang when a driver is wedged). No nvidia-smi on
// the machine means no GPU: []. A hang or a failure also gives [] and one warning, so a broken driver never
// stops the rest of the telemetry.

import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { GpuSample } from '../../broker/api/telemetry.js';

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'] as const;

export interface QueryGpusOptions {
  /** Default 'nvidia-smi', found on PATH. */
  command?: string;
  /** Default 5 s; the process is killed (SIGKILL) after it. */
  timeoutMs?: number;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

export type GpuQueryResult = { ok: true; gpus: GpuSample[] } | { ok: false; reason: 'missing' | 'timeout' | 'failed'; message: string };

/** "0, NVIDIA A10G, 2, 1024, 23028" per line. Lines that do not parse (e.g. "[N/A]" values) are skipped. */
export function parseNvidiaSmiCsv(text: string): GpuSample[] {
  const out: GpuSample[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(',').map((s) => s.trim());
    if (f.length !== 5) continue;
    const [index, name, util, used, total] = f as [string, string, string, string, string];
    const nums = [index, util, used, total].map(Number);
    if (nums.some((n) => !Number.isFinite(n)) || [index, util, used, total].some((s) => s === '')) continue;
    out.push({ index: nums[0]!, name, utilizationPct: nums[1]!, memoryUsedMiB: nums[2]!, memoryTotalMiB: nums[3]! });
  }
  return out;
}

export function runNvidiaSmi(o: QueryGpusOptions = {}): Promise<GpuQueryResult> {
  const command = o.command ?? 'nvidia-smi';
  const timeoutMs = o.timeoutMs ?? 5000;
  return new Promise((resolve) => {
    execFile(
      command,
      [...NVIDIA_SMI_ARGS],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024, windowsHide: true, ...(o.env ? { env: o.env } : {}) },
      (err, stdout) => {
        if (!err) return resolve({ ok: true, gpus: parseNvidiaSmiCsv(stdout) });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        if (e.code === 'ENOENT') return resolve({ ok: false, reason: 'missing', message: `${command} not found` });
        if (e.killed || e.signal === 'SIGKILL') {
          return resolve({ ok: false, reason: 'timeout', message: `${command} did not answer within ${timeoutMs} ms and was killed` });
        }
        resolve({ ok: false, reason: 'failed', message: `${command} failed: ${e.message.split('\n')[0] ?? ''}` });
      },
    );
  });
}

/** GPUs on this machine; [] when there are none or nvidia-smi misbehaves (logged as a warning). */
export async function queryGpus(o: QueryGpusOptions = {}): Promise<GpuSample[]> {
  const r = await runNvidiaSmi(o);
  if (r.ok) return r.gpus;
  if (r.reason !== 'missing') o.log?.warn({ reason: r.reason, err: r.message }, 'could not read GPUs; reporting none this time');
  return [];
}
