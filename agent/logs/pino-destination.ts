// A stream the agent's pino root can write to (beside stdout, via pino.multistream) so the agent's own log is
// shipped with everything else. pino writes one JSON line per call; we still split, in case of batching.
import { Writable } from 'node:stream';
import { createLineSplitter } from './line-splitter.js';
import type { LogLine } from './types.js';

export function createPinoDestination(opts: {
  source: string;
  onLine: (line: LogLine) => void;
  now?: () => number;
}): Writable {
  const now = opts.now ?? Date.now;
  let ts = 0;
  const splitter = createLineSplitter((text) => opts.onLine({ timestampMs: ts, source: opts.source, text }));
  return new Writable({
    decodeStrings: true,
    write(chunk: Buffer, _enc, callback) {
      ts = now();
      splitter.push(chunk);
      callback();
    },
    final(callback) {
      ts = now();
      splitter.end();
      callback();
    },
  });
}
