import t from 'tap';
import { buildBatches, checkBatch, formatMessage, MAX_MESSAGE_BYTES, PUT_LOG_EVENTS_LIMITS, splitMessage } from '../../../../agent/logs/batcher.js';
import type { LogEvent } from '../../../../agent/logs/types.js';

const NOW = Date.UTC(2026, 0, 10);
const HOUR = 3_600_000;
const ev = (timestamp: number, message: string): LogEvent => ({ timestamp, message });
const many = (n: number, bytes: number, ts = NOW): LogEvent[] => Array.from({ length: n }, () => ev(ts, 'x'.repeat(bytes)));

void t.test('every built batch obeys the PutLogEvents rules', (t) => {
  const cases: { name: string; input: LogEvent[]; batches: number }[] = [
    { name: '20,000 tiny lines → two batches of 10,000', input: many(20_000, 1), batches: 2 },
    { name: '10,000 lines exactly → one batch', input: many(10_000, 10), batches: 1 },
    // 1,048,576 / (1,000 + 26) = 1,022.0 → 1,022 events fit
    { name: '2,000 lines of 1,000 bytes → split on the byte limit', input: many(2_000, 1_000), batches: 2 },
    { name: 'a 3 MiB line → 13 parts of ≤ 262,144 bytes, 4 per batch', input: [ev(NOW, 'y'.repeat(3 * 1024 * 1024))], batches: 4 },
    { name: 'lines spanning 30 h → split at 24 h', input: [ev(NOW - 30 * HOUR, 'a'), ev(NOW - 7 * HOUR, 'b'), ev(NOW, 'c')], batches: 2 },
    { name: 'exactly 24 h apart → two batches (span must stay under 24 h)', input: [ev(NOW - 24 * HOUR, 'a'), ev(NOW, 'b')], batches: 2 },
    { name: 'one empty line → one batch', input: [ev(NOW, '')], batches: 1 },
  ];
  for (const c of cases) {
    const out = buildBatches(c.input, { nowMs: NOW });
    t.equal(out.batches.length, c.batches, `${c.name}: batch count`);
    for (const b of out.batches) t.equal(checkBatch(b), undefined, `${c.name}: batch valid`);
  }
  t.end();
});

void t.test('1,022 events of 1,000 bytes fill a batch and the 1,023rd starts the next', (t) => {
  const out = buildBatches(many(1_023, 1_000), { nowMs: NOW });
  t.same(out.batches.map((b) => b.length), [1_022, 1]);
  t.end();
});

void t.test('a 3 MB line arrives as ordered parts whose concatenation is the line', (t) => {
  const line = Array.from({ length: 3 * 1024 * 1024 / 8 }, (_, i) => String(i % 10_000_000).padStart(8, '0')).join('');
  const out = buildBatches([ev(NOW, line)], { nowMs: NOW });
  const parts = out.batches.flat();
  t.equal(parts.length, 13, '3,145,728 bytes / 262,118 per part');
  t.ok(parts.every((p) => Buffer.byteLength(p.message) <= MAX_MESSAGE_BYTES), 'each part within 262,118 bytes');
  t.equal(parts.map((p) => p.message).join(''), line);
  t.ok(parts.every((p) => p.timestamp === NOW), 'parts keep the line timestamp');
  t.equal(out.splitMessages, 1);
  t.end();
});

void t.test('splitting never cuts a multi-byte character', (t) => {
  const line = '€'.repeat(200_000); // 3 bytes each: 600,000 bytes
  const parts = splitMessage(line);
  t.ok(parts.length >= 3);
  t.ok(parts.every((p) => !p.includes('\uFFFD')), 'no replacement characters introduced');
  t.equal(parts.join(''), line);
  t.end();
});

void t.test('out-of-order timestamps are clamped to stay chronological, in arrival order', (t) => {
  const out = buildBatches([ev(NOW, 'a'), ev(NOW - 5000, 'b'), ev(NOW + 10, 'c'), ev(NOW + 5, 'd')], { nowMs: NOW });
  t.same(out.batches.flat(), [ev(NOW, 'a'), ev(NOW, 'b'), ev(NOW + 10, 'c'), ev(NOW + 10, 'd')]);
  t.equal(out.clampedEvents, 2);
  const next = buildBatches([ev(NOW, 'e')], { nowMs: NOW, state: out.state });
  t.same(next.batches.flat(), [ev(NOW + 10, 'e')], 'the clamp carries across calls');
  t.end();
});

void t.test('a timestamp more than 2 h in the future is replaced by now instead of dragging later lines', (t) => {
  const out = buildBatches([ev(NOW + 3 * HOUR, 'jump'), ev(NOW + 1, 'after')], { nowMs: NOW });
  t.same(out.batches.flat(), [ev(NOW, 'jump'), ev(NOW + 1, 'after')]);
  t.end();
});

void t.test('invalid UTF-8 becomes U+FFFD and is counted at its encoded size', (t) => {
  const msg = formatMessage({ timestampMs: NOW, source: 'dask', text: Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3]) });
  t.equal(msg, '[dask] a\uFFFD\uFFFDb\uFFFD');
  // Six filler events plus this one fill the 1,048,576 bytes exactly (each event counts its bytes + 26).
  const fill = PUT_LOG_EVENTS_LIMITS.maxBatchBytes - 7 * 26 - Buffer.byteLength(msg);
  const fillers = (extra: number): LogEvent[] =>
    Array.from({ length: 6 }, (_, i) => ev(NOW, 'z'.repeat(Math.floor(fill / 6) + (i === 0 ? (fill % 6) + extra : 0))));
  const out = buildBatches([...fillers(0), ev(NOW, msg)], { nowMs: NOW });
  t.equal(out.batches.length, 1, 'exactly fills one batch with the replacement bytes counted');
  t.equal(checkBatch(out.batches[0]!), undefined);
  const over = buildBatches([...fillers(1), ev(NOW, msg)], { nowMs: NOW });
  t.equal(over.batches.length, 2, 'one byte more starts a second batch');
  t.end();
});

void t.test('an empty source adds no prefix and an empty message is sent as one space', (t) => {
  t.equal(formatMessage({ timestampMs: 0, source: '', text: Buffer.from('skiff: hi') }), 'skiff: hi');
  t.same(buildBatches([ev(NOW, '')], { nowMs: NOW }).batches, [[ev(NOW, ' ')]]);
  t.end();
});

void t.test('checkBatch names what is wrong', (t) => {
  t.match(checkBatch([ev(2, 'a'), ev(1, 'b')]), /chronological/);
  t.match(checkBatch(many(10_001, 1)), /10001 events/);
  t.match(checkBatch([ev(0, 'x'.repeat(300_000))]), /event 0 is 300026 bytes/);
  t.match(checkBatch([ev(0, 'a'), ev(24 * HOUR, 'b')]), /spans/);
  t.match(checkBatch(many(1_100, 1_000)), /batch is \d+ bytes/);
  t.equal(checkBatch([]), 'empty batch');
  t.end();
});
