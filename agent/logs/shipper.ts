// The agent's log shipper: capture → durable spool → batches → sink, at least once.
//
//   write / capture / follow / pinoDestination ──▶ spool (disk, fsync'd every 200 ms)
//   ship loop: wakes every flushIntervalMs (default 1 s), or once 1 MiB is waiting, or on flush();
//              reads one chunk (≤ one batch) from the spool, builds batches, puts each — retrying retryable
//              outcomes forever with backoff + jitter — then commits the chunk's end to the checkpoint.
// Capture never waits for the loop: a CloudWatch outage only grows the spool (up to its budget), never memory.
import type { Readable, Writable } from 'node:stream';
import { backoffDelayMs, sleep as defaultSleep } from './backoff.js';
import { buildBatches, formatMessage, PUT_LOG_EVENTS_LIMITS, type BatchState } from './batcher.js';
import { createLineCapture, type LineCapture } from './capture.js';
import { createFileFollower, type FileFollower } from './file-follower.js';
import { DEFAULT_MAX_LINE_BYTES, utf8CutPoint } from './line-splitter.js';
import { createPinoDestination } from './pino-destination.js';
import { openSpool, type SpoolPosition } from './spool.js';
import type { LogEvent, LogLine, LogSink, LogStreamRef, PipelineLog, RejectedEvents } from './types.js';

export interface LogShipperOptions {
  spoolDir: string;
  sink: LogSink;
  group: string;
  stream: string;
  log: PipelineLog;
  /** Disk budget of the spool. Default 512 MiB. */
  budgetBytes?: number;
  /** Longest a line waits before it is shipped. Default 1000 ms. */
  flushIntervalMs?: number;
  /** How long close() keeps trying to ship what is left. Default 5000 ms. */
  closeTimeoutMs?: number;
  syncIntervalMs?: number;
  segmentMaxBytes?: number;
  maxLineBytes?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface ShipperStats {
  shippedEvents: number;
  shippedBatches: number;
  /** Message bytes accepted by the sink (UTF-8, without the 26 per event). */
  shippedBytes: number;
  pendingBytes: number;
  droppedLines: number;
  /** Events the store refused as too old, too new or expired (see rejectedLogEventsInfo). */
  rejectedEvents: number;
  /** Events in batches the sink refused for good (logged). */
  failedEvents: number;
  retries: number;
}

export interface LogShipper {
  write(source: string, line: string | Buffer, timestampMs?: number): void;
  capture(readable: Readable, source: string): LineCapture;
  follow(path: string, source: string, opts?: { statePath?: string; pollMs?: number }): FileFollower;
  /** A stream for pino.multistream: the agent's own log, shipped under `source` (default 'agent'). */
  pinoDestination(source?: string): Writable;
  /** Ship everything written so far. Resolves true when it was, false if `timeoutMs` (default 30 s) passed first. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stop capturing, ship what can be shipped within closeTimeoutMs, close the spool. The rest ships on next start. */
  close(): Promise<void>;
  stats(): ShipperStats;
}

/** Bytes per line beyond source + text in a batch: 26 per event and the "[source] " decoration. */
const LINE_OVERHEAD_BYTES = PUT_LOG_EVENTS_LIMITS.eventOverheadBytes + 3;
const MAX_SOURCE_BYTES = 200;

export function createLogShipper(opts: LogShipperOptions): LogShipper {
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? defaultSleep;
  const { log, sink } = opts;
  const target: LogStreamRef = { group: opts.group, stream: opts.stream };
  const flushIntervalMs = opts.flushIntervalMs ?? 1000;
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const spool = openSpool({
    dir: opts.spoolDir,
    log,
    now,
    ...(opts.budgetBytes !== undefined && { budgetBytes: opts.budgetBytes }),
    ...(opts.syncIntervalMs !== undefined && { syncIntervalMs: opts.syncIntervalMs }),
    ...(opts.segmentMaxBytes !== undefined && { segmentMaxBytes: opts.segmentMaxBytes }),
  });
  const stats = { shippedEvents: 0, shippedBatches: 0, shippedBytes: 0, rejectedEvents: 0, failedEvents: 0, retries: 0 };
  const captures = new Set<LineCapture>();
  const followers = new Set<FileFollower>();
  const stop = new AbortController();
  let closing = false;
  let spoolClosed = false;
  let batchState: BatchState | undefined;
  let appendedSinceWake = 0;
  let wake: (() => void) | undefined;
  let idleWaiters: (() => void)[] = [];

  function append(line: LogLine): void {
    if (spoolClosed) return;
    try {
      spool.append(line);
    } catch (err) {
      log.error({ err }, 'could not append to the log spool; line lost');
      return;
    }
    appendedSinceWake += line.text.length;
    if (appendedSinceWake >= PUT_LOG_EVENTS_LIMITS.maxBatchBytes) wakeLoop();
  }

  function wakeLoop(): void {
    const w = wake;
    wake = undefined;
    w?.();
  }

  const ticker = setInterval(wakeLoop, flushIntervalMs);
  ticker.unref();

  function reportRejected(batch: readonly LogEvent[], r: RejectedEvents): void {
    const n = batch.length;
    const tooOld = r.tooOldEndIndex ?? 0;
    const expired = r.expiredEndIndex ?? 0;
    const tooNew = r.tooNewStartIndex !== undefined ? n - r.tooNewStartIndex : 0;
    const refused = Math.min(n, Math.max(tooOld, expired) + tooNew);
    stats.rejectedEvents += refused;
    log.warn(
      { ...target, ...r, tooOld, tooNew, expired, firstTimestamp: batch[0]?.timestamp, lastTimestamp: batch.at(-1)?.timestamp },
      'the log store refused some events of a batch (outside its accepted time range)',
    );
  }

  /** Puts one batch until it succeeds or fails for good. False if closing interrupted it. */
  async function putUntilSettled(batch: LogEvent[]): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const out = await sink.put(target, batch);
      switch (out.kind) {
        case 'success': {
          if (out.rejected) reportRejected(batch, out.rejected);
          stats.shippedEvents += batch.length;
          stats.shippedBatches++;
          for (const e of batch) stats.shippedBytes += Buffer.byteLength(e.message, 'utf8');
          return true;
        }
        case 'failure':
          stats.failedEvents += batch.length;
          log.error(
            { ...target, err: out.error, events: batch.length, firstTimestamp: batch[0]?.timestamp },
            'the log store refused a batch for good; skipping it',
          );
          return true;
        case 'retryable': {
          if (stop.signal.aborted) return false;
          stats.retries++;
          const delayMs = backoffDelayMs(attempt, random, opts.backoffBaseMs, opts.backoffMaxMs);
          if (attempt === 0 || attempt % 10 === 0) {
            log.warn({ ...target, err: out.error, attempt, delayMs }, 'could not ship logs, will retry');
          }
          await sleep(delayMs, stop.signal);
          if (stop.signal.aborted) return false;
        }
      }
    }
  }

  interface Prepared {
    end: SpoolPosition;
    batches: LogEvent[][];
  }

  /** Reads the next chunk (about one batch) from the spool and builds its batches. */
  function prepare(): Prepared | undefined {
    if (spoolClosed) return undefined;
    const chunk = spool.readChunk(PUT_LOG_EVENTS_LIMITS.maxBatchBytes, PUT_LOG_EVENTS_LIMITS.maxEvents, LINE_OVERHEAD_BYTES);
    if (!chunk) return undefined;
    const messages = chunk.lines.map((l) => ({ timestamp: l.timestampMs, message: formatMessage(l) }));
    const built = buildBatches(messages, batchState === undefined ? { nowMs: now() } : { nowMs: now(), state: batchState });
    batchState = built.state;
    return { end: chunk.end, batches: built.batches };
  }

  // While the last batch of a chunk is on the wire, the next chunk is read and built (one put in flight at a
  // time, so a crash re-ships at most that batch).
  async function shipAvailable(): Promise<void> {
    let next = prepare();
    while (next) {
      const current = next;
      next = undefined;
      for (let i = 0; i < current.batches.length; i++) {
        const putting = putUntilSettled(current.batches[i]!);
        if (i === current.batches.length - 1) {
          await new Promise((resolve) => setImmediate(resolve)); // let the request reach the socket first
          next = prepare();
        }
        if (!(await putting)) return;
      }
      if (spoolClosed) return;
      spool.commit(current.end);
    }
  }

  async function loop(): Promise<void> {
    while (!stop.signal.aborted) {
      appendedSinceWake = 0;
      try {
        await shipAvailable();
      } catch (err) {
        log.error({ err }, 'log shipping loop failed, retrying');
      }
      if (!spoolClosed && !spool.hasUnread()) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
      if (closing || stop.signal.aborted) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
  const looping = loop();

  function flush(timeoutMs = 30_000): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      // Not unref'ed: a caller waiting for its logs to ship keeps the process alive that long.
      const timer = setTimeout(() => resolve(false), timeoutMs);
      idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      wakeLoop();
    });
  }

  return {
    write(source, line, timestampMs) {
      const src = Buffer.from(source).length > MAX_SOURCE_BYTES ? Buffer.from(source).subarray(0, MAX_SOURCE_BYTES).toString() : source;
      let text = typeof line === 'string' ? Buffer.from(line) : line;
      const ts = timestampMs ?? now();
      while (text.length > maxLineBytes) {
        const cut = utf8CutPoint(text, maxLineBytes);
        append({ timestampMs: ts, source: src, text: text.subarray(0, cut) });
        text = text.subarray(cut);
      }
      append({ timestampMs: ts, source: src, text });
    },
    capture(readable, source) {
      const c = createLineCapture({ readable, source, onLine: append, now, maxLineBytes });
      captures.add(c);
      void c.done.then(() => captures.delete(c));
      return c;
    },
    follow(path, source, fopts = {}) {
      const f = createFileFollower({ path, source, onLine: append, log, now, maxLineBytes, ...fopts });
      followers.add(f);
      return f;
    },
    pinoDestination(source = 'agent') {
      return createPinoDestination({ source, onLine: append, now });
    },
    flush,
    async close() {
      if (closing) return;
      for (const c of captures) c.stop();
      await Promise.all([...followers].map((f) => f.stop()));
      closing = true;
      clearInterval(ticker);
      const deadline = setTimeout(() => stop.abort(), opts.closeTimeoutMs ?? 5000);
      wakeLoop();
      await Promise.race([looping, new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }))]);
      clearTimeout(deadline);
      stop.abort();
      spoolClosed = true;
      spool.close();
    },
    stats: () => ({ ...stats, ...spoolStats() }),
  };

  function spoolStats(): { pendingBytes: number; droppedLines: number } {
    const s = spool.stats();
    return { pendingBytes: s.pendingBytes, droppedLines: s.droppedLines };
  }
}
