// The JSON-lines channel between the test process and the daemon (the daemon's stdin and stdout). One JSON
// object a line; anything else on the daemon's stdout is passed to the log, never parsed as a message.

import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export function readMessages<T>(input: Readable, onMessage: (m: T) => void, onOther: (line: string) => void): void {
  const rl = createInterface({ input, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (!line.startsWith('{')) return onOther(line);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return onOther(line);
    }
    onMessage(parsed as T);
  });
}

export function writeMessage(out: Writable, m: unknown): void {
  out.write(JSON.stringify(m) + '\n');
}
