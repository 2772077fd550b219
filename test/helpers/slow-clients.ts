// Many raw TCP clients that open, send a first piece and then trickle or go silent, as a slowloris attack
// does; each from one of several loopback source addresses (127.0.0.2, …: the whole 127/8 is loopback, so
// a per-address cap can be tried without leaving the machine). Records what each got back and when it closed.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SlowClient {
  /** Bytes the server answered (the first 512). */
  answer: string;
  /** ms from open to the server closing (or resetting) the connection; undefined while open. */
  closedAfterMs?: number;
  /** The connection never opened or was closed before it sent anything back. */
  error?: string;
}

export interface SlowClients {
  clients: SlowClient[];
  open(): number;
  /** Closes every connection still open and stops trickling. */
  close(): void;
}

export interface SlowClientOptions {
  port: number;
  count: number;
  /** Source address of client i. */
  localAddress: (i: number) => string;
  /** What client i sends first. */
  first: Buffer | string | ((i: number) => Buffer | string);
  /** Then every `trickleMs` this is sent (nothing: silence). */
  trickle?: Buffer | string;
  trickleMs?: number;
  /** Connections opened at once (the listen backlog is finite). */
  batch?: number;
}

export async function openSlowClients(o: SlowClientOptions): Promise<SlowClients> {
  const clients: SlowClient[] = [];
  const sockets: Socket[] = [];
  let stopped = false;
  const batch = o.batch ?? 100;
  for (let start = 0; start < o.count; start += batch) {
    const opened: Array<Promise<void>> = [];
    for (let i = start; i < Math.min(o.count, start + batch); i++) {
      const c: SlowClient = { answer: '' };
      clients.push(c);
      const t0 = Date.now();
      const s = connect({ host: '127.0.0.1', port: o.port, localAddress: o.localAddress(i) });
      sockets.push(s);
      s.on('data', (d: Buffer) => {
        if (c.answer.length < 512) c.answer += d.toString('latin1').slice(0, 512 - c.answer.length);
      });
      s.on('error', (err) => {
        c.error ??= err.message;
      });
      s.on('close', () => {
        c.closedAfterMs ??= Date.now() - t0;
      });
      opened.push(
        new Promise<void>((resolve) => {
          s.once('connect', () => {
            const first = typeof o.first === 'function' ? o.first(i) : o.first;
            if (first.length > 0) s.write(first);
            resolve();
          });
          s.once('close', () => resolve());
        }),
      );
    }
    await Promise.all(opened);
  }
  const trickle = o.trickle;
  if (trickle !== undefined) {
    void (async () => {
      while (!stopped) {
        await sleep(o.trickleMs ?? 500);
        for (const s of sockets) if (!s.destroyed && s.writable) s.write(trickle);
      }
    })();
  }
  return {
    clients,
    open: () => clients.filter((c) => c.closedAfterMs === undefined).length,
    close: () => {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

/** A process's resident memory, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = readStatus(pid);
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}
