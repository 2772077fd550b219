// File-level helpers of the spool: segment names, listing, counting records, and fsync off the event loop.
import { closeSync, fdatasync, openSync, readdirSync, readSync } from 'node:fs';
import type { PipelineLog } from './types.js';

export const segName = (seq: number): string => `seg-${String(seq).padStart(12, '0')}.log`;

/** Sequence numbers of the segments in `dir`, oldest first. */
export function listSegments(dir: string): number[] {
  return readdirSync(dir)
    .map((f) => /^seg-(\d{12})\.log$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Whole records in a segment file from byte `from` to `size`, reading only their headers. */
export function countRecords(path: string, from: number, size: number): number {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    let pos = from;
    const head = Buffer.allocUnsafe(8);
    while (pos + 8 <= size && readSync(fd, head, 0, 8, pos) === 8) {
      const end = pos + 8 + head.readUInt32LE(0);
      if (end > size) break;
      n++;
      pos = end;
    }
    return n;
  } finally {
    closeSync(fd);
  }
}

/**
 * fsync on the thread pool, so a slow disk never stalls capture. A descriptor is closed (`retire`) only once
 * no fsync on it is in flight: closing earlier could let the number be reused under the pending fsync.
 */
export interface FdSyncer {
  syncAsync: (fd: number) => void;
  retire: (fd: number) => void;
  inFlight: (fd: number) => boolean;
}

export function createFdSyncer(log: PipelineLog): FdSyncer {
  const syncsInFlight = new Map<number, number>();
  const retired = new Set<number>();
  return {
    syncAsync: (fd) => {
      syncsInFlight.set(fd, (syncsInFlight.get(fd) ?? 0) + 1);
      fdatasync(fd, (err) => {
        const left = (syncsInFlight.get(fd) ?? 1) - 1;
        if (left > 0) syncsInFlight.set(fd, left);
        else syncsInFlight.delete(fd);
        if (err) log.error({ err }, 'could not fsync the log spool');
        if (left === 0 && retired.delete(fd)) closeSync(fd);
      });
    },
    retire: (fd) => {
      if (syncsInFlight.has(fd)) retired.add(fd);
      else closeSync(fd);
    },
    inFlight: (fd) => syncsInFlight.has(fd),
  };
}
