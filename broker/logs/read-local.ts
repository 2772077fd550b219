// Pages of one stream of the local log store (a JSON-lines file, read from a byte offset so following works)
// and the list of a group's streams (the files in its directory).
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PageSource } from './read-merge.js';
import { localStreamPath, storeName, type LogEvent } from '../api/logs.js';

export interface LocalReadTarget {
  dir: string;
  group: string;
  sinceMs?: number;
  untilMs?: number;
}

const PAGE_BYTES = 1024 * 1024;

export async function listLocalStreams(t: LocalReadTarget): Promise<string[]> {
  try {
    const files = await readdir(join(t.dir, storeName(t.group)));
    return files.filter((f) => f.endsWith('.jsonl')).map((f) => decodeURIComponent(f.slice(0, -'.jsonl'.length))).sort();
  } catch {
    return []; // nothing logged yet
  }
}

export function openLocalStream(t: LocalReadTarget, stream: string): PageSource {
  const path = localStreamPath(t.dir, { group: t.group, stream });
  let offset = 0;
  return {
    stream,
    async nextPage() {
      let fh;
      try {
        fh = await open(path, 'r');
      } catch {
        return { events: [], atEnd: true };
      }
      try {
        const buf = Buffer.allocUnsafe(PAGE_BYTES);
        const { bytesRead } = await fh.read(buf, 0, PAGE_BYTES, offset);
        const lastNl = buf.subarray(0, bytesRead).lastIndexOf(10);
        if (lastNl < 0) return { events: [], atEnd: true }; // nothing complete yet (a line > 1 MiB never happens: events ≤ 256 KB)
        offset += lastNl + 1;
        const events: LogEvent[] = [];
        for (const text of buf.toString('utf8', 0, lastNl).split('\n')) {
          if (text === '') continue;
          const rec = JSON.parse(text) as { t: number; m: string };
          if (t.sinceMs !== undefined && rec.t < t.sinceMs) continue;
          if (t.untilMs !== undefined && rec.t > t.untilMs) continue;
          events.push({ timestamp: rec.t, message: rec.m });
        }
        return { events, atEnd: bytesRead < PAGE_BYTES };
      } finally {
        await fh.close();
      }
    },
  };
}
