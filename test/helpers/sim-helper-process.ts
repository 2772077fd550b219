// A test helper server (the Service Quotas stand-in, a fault proxy) run as a process in the simulator's outer
// namespace, where the broker can reach it: its first stdout line is the JSON saying where it listens, every
// later `{"record": ...}` line one request it answered. Stopped with the simulator (sim.spawn's process group),
// or earlier with stop().
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './skiff.js';
import type { Ec2Sim } from '../sim/ec2-sim.js';

export interface HelperProcess<Ready, Rec> {
  ready: Ready;
  /** Every record printed so far. */
  records(): Rec[];
  stop(): Promise<void>;
}

export async function spawnSimHelper<Ready, Rec>(sim: Pick<Ec2Sim, 'spawn'>, script: string, args: string[], startTimeoutMs = 30_000): Promise<HelperProcess<Ready, Rec>> {
  // tsx is resolved from the repository (node_modules), so the process runs there.
  // NODE_OPTIONS emptied: tap's loaders stay out (its stdout is the channel).
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AWS_EC2_METADATA_DISABLED: 'true', NODE_OPTIONS: '' };
  const child: ChildProcess = sim.spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers', script), ...args], { env, cwd: ROOT });
  const records: Rec[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${startTimeoutMs / 1000} s: ${stderr}`)), startTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${String(code)}) before listening: ${stderr}`));
    });
    lines.on('line', (line) => {
      let msg: { record?: Rec } & Record<string, unknown>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.record !== undefined) records.push(msg.record);
      else {
        clearTimeout(timer);
        resolve(msg as Ready);
      }
    });
  });
  return {
    ready,
    records: () => [...records],
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
