// A pino logger whose lines the test reads back as parsed JSON objects (as pino's own test helper does).
import { Writable } from 'node:stream';
import { pino } from 'pino';

export function logSink<L = Record<string, unknown>>(level: pino.LevelWithSilent = 'info'): { log: pino.Logger; lines: L[] } {
  const lines: L[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as L);
      cb();
    },
  });
  return { log: pino({ level }, dest), lines };
}
