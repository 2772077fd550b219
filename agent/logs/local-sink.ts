// The embedded log store of the `local` backend: one JSON-lines file per stream, under <dir>/<group>/<stream>.jsonl,
// each line {"t": timestampMs, "m": message}. read-local.ts reads it back with the same interface as CloudWatch.
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogEvent, LogSink, LogStreamRef } from './types.js';

/** A group or stream name as a safe file name (CloudWatch names allow '/', '#', ':' ...). */
export function storeName(name: string): string {
  return encodeURIComponent(name).replace(/\./g, '%2E');
}

export function localStreamPath(dir: string, target: LogStreamRef): string {
  return join(dir, storeName(target.group), `${storeName(target.stream)}.jsonl`);
}

export function createLocalSink(opts: { dir: string }): LogSink {
  const made = new Set<string>();
  return {
    async put(target: LogStreamRef, events: readonly LogEvent[]) {
      try {
        const groupDir = join(opts.dir, storeName(target.group));
        if (!made.has(groupDir)) {
          await mkdir(groupDir, { recursive: true });
          made.add(groupDir);
        }
        let text = '';
        for (const e of events) text += `${JSON.stringify({ t: e.timestamp, m: e.message })}\n`;
        await appendFile(localStreamPath(opts.dir, target), text);
        return { kind: 'success' };
      } catch (err) {
        // A full or read-only disk may recover: keep the lines in the spool and try again.
        return { kind: 'retryable', error: err instanceof Error ? err : new Error(String(err)) };
      }
    },
  };
}
