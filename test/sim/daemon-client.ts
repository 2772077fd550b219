// Starting the daemon inside the outer namespace and talking to it: requests with a deadline each, the VM
// events it pushes, and its stderr as log lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMessages, writeMessage } from './channel.js';
import type { FromDaemon, RpcMethod, RpcParams, RpcResults, VmSnapshot } from './types.js';

const DAEMON = join(dirname(fileURLToPath(import.meta.url)), 'daemon.ts');

export interface DaemonClient {
  pid: number;
  ready: { motoEndpoint: string; identityCertPem: string };
  request<M extends RpcMethod>(method: M, params: RpcParams[M], timeoutMs?: number): Promise<RpcResults[M]>;
  /** Resolves when the daemon process has exited. */
  exited: Promise<void>;
  kill(): void;
}

export interface DaemonStart {
  outerNs: string;
  configPath: string;
  repoRoot: string;
  env: NodeJS.ProcessEnv;
  startTimeoutMs: number;
  log: (line: string) => void;
  onVm: (vm: VmSnapshot) => void;
}

export async function startDaemon(o: DaemonStart): Promise<DaemonClient> {
  // nsenter --net only: the daemon keeps the host's mount namespace (see daemon.ts).
  const child: ChildProcess = spawn('nsenter', [`--net=/run/netns/${o.outerNs}`, '--', process.execPath, '--import', 'tsx', DAEMON, o.configPath], {
    cwd: o.repoRoot,
    env: o.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000);
    for (const line of d.split('\n')) if (line) o.log(line);
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let resolveReady: (r: DaemonClient['ready']) => void = () => {};
  let rejectReady: (e: Error) => void = () => {};
  const ready = new Promise<DaemonClient['ready']>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  if (!child.stdout || !child.stdin) throw new Error('daemon started without pipes');
  readMessages<FromDaemon>(
    child.stdout,
    (m) => {
      switch (m.type) {
        case 'ready':
          return resolveReady({ motoEndpoint: m.motoEndpoint, identityCertPem: m.identityCertPem });
        case 'fatal':
          o.log(`daemon: ${m.error}`);
          return rejectReady(new Error(`EC2 simulator daemon failed: ${m.error}`));
        case 'vm':
          return o.onVm(m.vm);
        case 'response': {
          const p = pending.get(m.id);
          pending.delete(m.id);
          if (m.ok) p?.resolve(m.result);
          else p?.reject(new Error(m.error));
        }
      }
    },
    (line) => o.log(line),
  );
  void exited.then(() => {
    rejectReady(new Error(`EC2 simulator daemon exited (${child.exitCode ?? child.signalCode}) before it was ready: ${stderr.slice(-2000)}`));
    for (const p of pending.values()) p.reject(new Error('EC2 simulator daemon exited'));
    pending.clear();
  });
  const timer = setTimeout(() => rejectReady(new Error(`EC2 simulator daemon not ready within ${o.startTimeoutMs} ms: ${stderr.slice(-2000)}`)), o.startTimeoutMs);
  try {
    const r = await ready;
    const stdin = child.stdin;
    return {
      pid: child.pid ?? 0,
      ready: r,
      exited,
      kill: () => child.kill('SIGKILL'),
      request: (method, params, timeoutMs = 30_000) =>
        new Promise((resolve, reject) => {
          const id = nextId++;
          const t = setTimeout(() => {
            pending.delete(id);
            reject(new Error(`EC2 simulator daemon did not answer ${method} within ${timeoutMs} ms`));
          }, timeoutMs);
          pending.set(id, {
            resolve: (v) => {
              clearTimeout(t);
              resolve(v as RpcResults[typeof method]);
            },
            reject: (e) => {
              clearTimeout(t);
              reject(e);
            },
          });
          writeMessage(stdin, { type: 'request', id, method, params });
        }),
    };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
