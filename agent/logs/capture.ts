// Turns a Readable (a child's stdout or stderr) into LogLines, each stamped when its last byte arrived.
// Capture never blocks on shipping: lines go straight to the spool, which writes to disk synchronously.
import type { Readable } from 'node:stream';
import { createLineSplitter, DEFAULT_MAX_LINE_BYTES } from './line-splitter.js';
import type { LogLine } from './types.js';

export interface LineCaptureOptions {
  readable: Readable;
  source: string;
  onLine: (line: LogLine) => void;
  now?: () => number;
  maxLineBytes?: number;
}

export interface LineCapture {
  /** Resolves when the stream ended or errored (its last partial line has been emitted). */
  readonly done: Promise<void>;
  /** Stop listening (what was received so far has been emitted; a partial last line is emitted too). */
  stop(): void;
}

export function createLineCapture(opts: LineCaptureOptions): LineCapture {
  const now = opts.now ?? Date.now;
  const { readable, source, onLine } = opts;
  let ts = 0;
  const splitter = createLineSplitter((text) => onLine({ timestampMs: ts, source, text }), opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  let finished = false;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  const onData = (chunk: Buffer | string): void => {
    ts = now();
    splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  const finish = (): void => {
    if (finished) return;
    finished = true;
    readable.off('data', onData);
    readable.off('end', finish);
    readable.off('close', finish);
    readable.off('error', finish);
    ts = now();
    splitter.end();
    resolveDone();
  };
  readable.on('data', onData);
  readable.once('end', finish);
  readable.once('close', finish);
  readable.once('error', finish);
  return { done, stop: finish };
}
