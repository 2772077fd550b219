// Drives test/integration/fixtures/dask_scale.py: one real Dask client kept connected across a test (so what it
// scattered stays on the cluster), a command per call, one JSON answer each.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { DASK_PYTHON, ROOT } from './skiff.js';

export interface DaskDriver {
  ask<T = Record<string, unknown>>(command: string, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export function startDaskDriver(address: string, creds: { ca: string; cert: string; key: string }): DaskDriver {
  const child = spawn(DASK_PYTHON, [join(ROOT, 'test/integration/fixtures/dask_scale.py'), address, creds.ca, creds.cert, creds.key], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ask<T>(command: string, timeoutMs = 120_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to "${command}" within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiting.push((line) => {
          clearTimeout(timer);
          try {
            resolve(JSON.parse(line) as T);
          } catch {
            reject(new Error(`not JSON: ${line}`));
          }
        });
        child.stdin.write(`${command}\n`);
      });
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
