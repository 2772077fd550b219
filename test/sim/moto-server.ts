// moto inside the outer namespace (the daemon runs there), listening on the "internet" address, in its own
// working directory (moto writes a moto_recording file into its cwd), with the simulator's image list.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeAmisFile } from './amis.js';
import { INTERNET_IP, MOTO_PORT } from './names.js';

export interface MotoProcess {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMotoServer(o: { stateRoot: string; python: string; log: (line: string) => void; readyTimeoutMs?: number }): Promise<MotoProcess> {
  const dir = join(o.stateRoot, 'moto');
  mkdirSync(dir, { recursive: true });
  const amis = await writeAmisFile(dir, o.python);
  const endpoint = `http://${INTERNET_IP}:${MOTO_PORT}`;
  const child: ChildProcess = spawn(o.python, ['-m', 'moto.server', '-H', INTERNET_IP, '-p', String(MOTO_PORT)], {
    cwd: dir,
    env: { ...process.env, MOTO_AMIS_PATH: amis, AWS_EC2_METADATA_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const timeoutMs = o.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}) before answering on ${endpoint}: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto did not answer on ${endpoint} within ${timeoutMs} ms: ${stderr}`);
    }
    await sleep(100);
  }
  o.log(`moto listening on ${endpoint} (cwd ${dir})`);
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
