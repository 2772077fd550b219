import t from 'tap';
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSpool, type Spool } from '../../../../agent/logs/spool.js';
import { fakeLog } from './fixtures/fake-log.js';

const line = (i: number, size = 10): { timestampMs: number; source: string; text: Buffer } => ({
  timestampMs: 1_000 + i,
  source: 'src',
  text: Buffer.from(`line ${i} `.padEnd(size, 'x')),
});

function readAll(spool: Spool): { texts: string[]; end: { seq: number; offset: number } | undefined } {
  const texts: string[] = [];
  let end;
  for (;;) {
    const c = spool.readChunk(64 * 1024, 1000);
    if (!c) return { texts, end };
    texts.push(...c.lines.map((l) => l.text.toString()));
    end = c.end;
  }
}
const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();

void t.test('lines come back in order, with timestamp and source, across segments', (t) => {
  const dir = t.testdir();
  const spool = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  t.teardown(() => spool.close());
  for (let i = 0; i < 1000; i++) spool.append(line(i, 40));
  const c = spool.readChunk(1e9, 10_000)!;
  t.equal(c.lines.length, 1000);
  t.same(c.lines.map((l) => l.text.toString().split(' ')[1]), Array.from({ length: 1000 }, (_, i) => String(i)));
  t.equal(c.lines[7]!.timestampMs, 1007);
  t.equal(c.lines[7]!.source, 'src');
  t.ok(segments(dir).length > 5, 'rolled over several segments');
  t.end();
});

void t.test('a chunk stops before the line that would exceed maxBytes or maxLines', (t) => {
  const spool = openSpool({ dir: t.testdir(), log: fakeLog() });
  t.teardown(() => spool.close());
  for (let i = 0; i < 10; i++) spool.append(line(i, 97)); // 100 bytes with the source
  t.equal(spool.readChunk(350, 100, 0)!.lines.length, 3);
  t.equal(spool.readChunk(1e6, 2)!.lines.length, 2);
  t.equal(spool.readChunk(1e6, 100)!.lines.length, 5);
  t.equal(spool.readChunk(1e6, 100), undefined);
  t.end();
});

void t.test('after a restart without commit every line is read again; after a commit only the rest', (t) => {
  const dir = t.testdir();
  let spool = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  for (let i = 0; i < 500; i++) spool.append(line(i, 40));
  const first = spool.readChunk(5_000, 10_000)!;
  spool.close();

  spool = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  t.equal(readAll(spool).texts.length, 500, 'nothing committed: all 500 again');
  spool.close();

  spool = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  const again = spool.readChunk(5_000, 10_000)!;
  t.same(again.end, first.end, 'same chunk boundaries');
  spool.commit(again.end);
  spool.close();

  spool = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  t.teardown(() => spool.close());
  const rest = readAll(spool).texts;
  t.equal(rest.length, 500 - first.lines.length);
  t.match(rest[0], new RegExp(`^line ${first.lines.length} `));
  t.end();
});

void t.test('committing past a segment deletes it and pending bytes shrink to zero', (t) => {
  const dir = t.testdir();
  const spool = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  for (let i = 0; i < 500; i++) spool.append(line(i, 40));
  spool.writePending();
  t.ok(spool.stats().pendingBytes > 20_000);
  const { end } = readAll(spool);
  spool.commit(end!);
  t.equal(spool.stats().pendingBytes, 0);
  t.equal(segments(dir).length, 1, 'only the active segment is left');
  spool.close();
  const reopened = openSpool({ dir, log: fakeLog(), segmentMaxBytes: 4096 });
  t.equal(reopened.readChunk(1e6, 1e6), undefined, 'a reopened spool has nothing left to ship');
  reopened.close();
  t.end();
});

void t.test('a torn last record (killed mid-write) is skipped and the lines after it still arrive', (t) => {
  const dir = t.testdir();
  const log = fakeLog();
  let spool = openSpool({ dir, log });
  for (let i = 0; i < 10; i++) spool.append(line(i, 20));
  spool.close();
  const seg = join(dir, segments(dir)[0]!);
  truncateSync(seg, statSync(seg).size - 5);

  spool = openSpool({ dir, log });
  t.teardown(() => spool.close());
  spool.append({ timestampMs: 5, source: 'src', text: Buffer.from('after restart') });
  const texts = readAll(spool).texts;
  t.equal(texts.length, 10, '9 whole lines + the new one');
  t.match(texts[8], /^line 8 /);
  t.equal(texts[9], 'after restart');
  t.ok(log.entries.some((e) => e.level === 'warn' && e.obj['reason'] === 'torn record'), 'the skip is logged');
  t.end();
});

void t.test('a record whose checksum does not match is not returned', (t) => {
  const dir = t.testdir();
  const log = fakeLog();
  let spool = openSpool({ dir, log });
  for (let i = 0; i < 3; i++) spool.append(line(i, 20));
  spool.close();
  const seg = join(dir, segments(dir)[0]!);
  const bytes = readFileSync(seg);
  bytes[bytes.length - 2] = (bytes[bytes.length - 2] ?? 0) ^ 0xff; // inside the last record's text
  writeFileSync(seg, bytes);
  appendFileSync(seg, Buffer.alloc(3)); // and some garbage after it
  spool = openSpool({ dir, log });
  t.teardown(() => spool.close());
  t.same(readAll(spool).texts.map((s) => s.slice(0, 6)), ['line 0', 'line 1']);
  t.ok(log.entries.some((e) => e.obj['reason'] === 'checksum mismatch'));
  t.end();
});

void t.test('over budget the oldest lines are dropped, counted, logged once, and a line says so', (t) => {
  const dir = t.testdir();
  const log = fakeLog();
  const budgetBytes = 64 * 1024;
  const spool = openSpool({ dir, log, budgetBytes, segmentMaxBytes: 8 * 1024 });
  t.teardown(() => spool.close());
  for (let i = 0; i < 5000; i++) spool.append(line(i, 100));
  spool.writePending();
  const onDisk = segments(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  t.ok(onDisk <= budgetBytes + 8 * 1024, `disk use ${onDisk} stays within the budget (+ one segment)`);
  const texts = readAll(spool).texts;
  const dropped = spool.stats().droppedLines;
  const kept = texts.filter((s) => s.startsWith('line ')).length;
  const warns = log.entries.filter((e) => e.level === 'warn' && e.msg.includes('over budget'));
  // Each drop appends one notice line, which a later drop may count too.
  t.ok(dropped + kept >= 5000 && dropped + kept <= 5000 + warns.length, 'every line is either kept or counted as dropped');
  t.match(texts.filter((s) => s.startsWith('line ')).at(-1), /^line 4999 /, 'the newest line is kept');
  const notices = texts.filter((s) => s.startsWith('skiff: dropped'));
  t.ok(notices.length > 0);
  const noticed = notices.reduce((s, n) => s + Number(/dropped (\d+) log lines/.exec(n)![1]), 0);
  // The earliest notices may themselves have been dropped, so they count at most what was dropped.
  t.ok(noticed > 0 && noticed <= dropped);
  t.match(notices.at(-1), /\(spool over budget 65536 bytes\)$/);
  t.equal(warns.reduce((s, w) => s + (w.obj['droppedLines'] as number), 0), dropped, 'each drop logged with its count');
  t.end();
});

void t.test('lines already read when their segment is dropped are not counted as dropped', (t) => {
  const dir = t.testdir();
  const log = fakeLog();
  const spool = openSpool({ dir, log, budgetBytes: 32 * 1024, segmentMaxBytes: 4096 });
  t.teardown(() => spool.close());
  for (let i = 0; i < 100; i++) spool.append(line(i, 100));
  const read = readAll(spool).texts.length;
  for (let i = 100; i < 2000; i++) spool.append(line(i, 100));
  const texts = readAll(spool).texts;
  const rest = texts.filter((s) => s.startsWith('line ')).length;
  const notices = log.entries.filter((e) => e.msg.includes('over budget')).length;
  t.ok(spool.stats().droppedLines > 0, 'some were dropped');
  t.ok(read + rest + spool.stats().droppedLines <= 2000 + notices, 'nothing read earlier is counted as dropped');
  t.ok(read + rest + spool.stats().droppedLines >= 2000, 'every line is read or counted');
  t.end();
});

void t.test('a checkpoint pointing into a segment that is gone does not hide new lines', (t) => {
  const dir = t.testdir();
  let spool = openSpool({ dir, log: fakeLog() });
  for (let i = 0; i < 5; i++) spool.append(line(i, 20));
  spool.commit(spool.readChunk(1e6, 100)!.end);
  spool.close();
  for (const f of segments(dir)) rmSync(join(dir, f)); // someone cleaned the spool directory by hand
  spool = openSpool({ dir, log: fakeLog() });
  spool.append({ timestampMs: 1, source: 's', text: Buffer.from('fresh line') });
  t.same(readAll(spool).texts, ['fresh line']);
  spool.close();
  t.end();
});
