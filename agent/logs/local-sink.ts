// The embedded log store of the `local` backend (its layout is the contract's: broker/api/logs.ts), written
// one JSON line {"t": timestampMs, "m": message} per event; `skiff logs` reads it back (broker/logs/read-local.ts).
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { localStreamPath, type LogEvent, type LogStreamRef } from '../../broker/api/logs.js';
import type { LogSink } from './types.js';

export function createLocalSink(opts: { dir: string }): LogSink {
  const made = new Set<string>();
  return {
    async put(target: LogStreamRef, events: readonly LogEvent[]) {
      try {
        const path = localStreamPath(opts.dir, target);
        const groupDir = dirname(path);
        if (!made.has(groupDir)) {
          await mkdir(groupDir, { recursive: true });
          made.add(groupDir);
        }
        let text = '';
        for (const e of events) text += `${JSON.stringify({ t: e.timestamp, m: e.message })}\n`;
        await appendFile(path, text);
        return { kind: 'success' };
      } catch (err) {
        // A full or read-only disk may recover: keep the lines in the spool and try again.
        return { kind: 'retryable', error: err instanceof Error ? err : new Error(String(err)) };
      }
    },
  };
}
