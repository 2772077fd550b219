// Pure functions that turn spooled lines into PutLogEvents batches obeying every CloudWatch rule:
//   - a batch is at most 1,048,576 bytes, counting each message's UTF-8 bytes + 26
//   - at most 10,000 events per batch
//   - events in chronological order within a batch (out-of-order input is clamped to the latest timestamp
//     seen, keeping the order of arrival)
//   - a batch spans less than 24 h
//   - an event is at most 262,144 bytes including the 26: longer messages become ordered parts with the same
//     timestamp, cut on character boundaries, whose concatenation is the original message
//   - messages are valid UTF-8 (invalid bytes become U+FFFD before counting) and never empty
// Timestamps more than 2 h in the future (a clock jump) would be rejected and, clamped, would drag every later
// line with them; they are replaced by `nowMs`.
import { utf8CutPoint } from './line-splitter.js';
import type { LogEvent, LogLine } from './types.js';

export const PUT_LOG_EVENTS_LIMITS = {
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxEvents: 10_000,
  maxSpanMs: 24 * 60 * 60 * 1000,
  maxEventBytes: 262_144,
  maxFutureMs: 2 * 60 * 60 * 1000,
} as const;

/** Longest message of one event: 262,118 bytes. */
export const MAX_MESSAGE_BYTES = PUT_LOG_EVENTS_LIMITS.maxEventBytes - PUT_LOG_EVENTS_LIMITS.eventOverheadBytes;

/** `[source] text`, decoded as UTF-8 with invalid bytes replaced by U+FFFD. An empty source adds no prefix. */
export function formatMessage(line: LogLine): string {
  const text = line.text.toString('utf8');
  return line.source === '' ? text : `[${line.source}] ${text}`;
}

/** Splits a message into parts of at most `maxBytes` UTF-8 bytes each, on character boundaries, in order. */
export function splitMessage(message: string, maxBytes = MAX_MESSAGE_BYTES): string[] {
  if (message.length * 3 <= maxBytes || Buffer.byteLength(message, 'utf8') <= maxBytes) return [message];
  const bytes = Buffer.from(message, 'utf8');
  const parts: string[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const rest = bytes.subarray(pos);
    const cut = utf8CutPoint(rest, maxBytes);
    parts.push(rest.toString('utf8', 0, cut));
    pos += cut;
  }
  return parts;
}

export interface BatchState {
  /** Latest timestamp already placed (across calls), so later events never go backwards. */
  lastTimestamp: number;
}

export interface BuildBatchesOptions {
  nowMs: number;
  state?: BatchState;
}

export interface BuiltBatches {
  batches: LogEvent[][];
  state: BatchState;
  /** How many events got a new timestamp (out of order, or far in the future). */
  clampedEvents: number;
  /** How many input messages were split into parts. */
  splitMessages: number;
}

export function buildBatches(messages: readonly LogEvent[], opts: BuildBatchesOptions): BuiltBatches {
  const L = PUT_LOG_EVENTS_LIMITS;
  const batches: LogEvent[][] = [];
  let batch: LogEvent[] = [];
  let batchBytes = 0;
  let batchFirstTs = 0;
  let last = opts.state?.lastTimestamp ?? Number.NEGATIVE_INFINITY;
  let clampedEvents = 0;
  let splitMessages = 0;

  for (const m of messages) {
    let ts = Math.floor(m.timestamp);
    if (!Number.isFinite(ts) || ts > opts.nowMs + L.maxFutureMs) {
      ts = opts.nowMs;
      clampedEvents++;
    }
    if (ts < last) {
      ts = last;
      clampedEvents++;
    }
    last = ts;
    const parts = splitMessage(m.message === '' ? ' ' : m.message);
    if (parts.length > 1) splitMessages++;
    for (const message of parts) {
      const size = Buffer.byteLength(message, 'utf8') + L.eventOverheadBytes;
      if (
        batch.length > 0 &&
        (batch.length >= L.maxEvents || batchBytes + size > L.maxBatchBytes || ts - batchFirstTs >= L.maxSpanMs)
      ) {
        batches.push(batch);
        batch = [];
        batchBytes = 0;
      }
      if (batch.length === 0) batchFirstTs = ts;
      batch.push({ timestamp: ts, message });
      batchBytes += size;
    }
  }
  if (batch.length > 0) batches.push(batch);
  return { batches, state: { lastTimestamp: last }, clampedEvents, splitMessages };
}

/** Checks a batch against the rules; returns what is wrong, or undefined. Used by tests and the local sink. */
export function checkBatch(events: readonly LogEvent[]): string | undefined {
  const L = PUT_LOG_EVENTS_LIMITS;
  if (events.length === 0) return 'empty batch';
  if (events.length > L.maxEvents) return `${events.length} events (max ${L.maxEvents})`;
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const size = Buffer.byteLength(e.message, 'utf8') + L.eventOverheadBytes;
    if (e.message.length === 0) return `event ${i} is empty`;
    if (size > L.maxEventBytes) return `event ${i} is ${size} bytes (max ${L.maxEventBytes})`;
    if (i > 0 && e.timestamp < events[i - 1]!.timestamp) return `event ${i} is out of chronological order`;
    bytes += size;
  }
  if (bytes > L.maxBatchBytes) return `batch is ${bytes} bytes (max ${L.maxBatchBytes})`;
  const span = events.at(-1)!.timestamp - events[0]!.timestamp;
  if (span >= L.maxSpanMs) return `batch spans ${span} ms (max under ${L.maxSpanMs})`;
  return undefined;
}
