import t from 'tap';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { createLineCapture } from '../../../../agent/logs/capture.js';
import { createLineSplitter } from '../../../../agent/logs/line-splitter.js';
import { createPinoDestination } from '../../../../agent/logs/pino-destination.js';
import type { LogLine } from '../../../../agent/logs/types.js';

void t.test('lines split across chunks, CRLF endings and a last line without newline all come out whole', async (t) => {
  const lines: LogLine[] = [];
  const out = new PassThrough();
  let clock = 100;
  const cap = createLineCapture({ readable: out, source: 'dask-scheduler:stderr', onLine: (l) => lines.push(l), now: () => clock++ });
  out.write('alpha\r\nbe');
  out.write('ta\n\ngam');
  out.end('ma');
  await cap.done;
  t.same(lines.map((l) => l.text.toString()), ['alpha', 'beta', '', 'gamma']);
  t.ok(lines.every((l) => l.source === 'dask-scheduler:stderr'));
  t.same(lines.map((l) => l.timestampMs), [100, 101, 101, 103], 'each line stamped when its end arrived');
});

void t.test('a line longer than the limit is emitted in ordered parts cut on character boundaries, never dropped', (t) => {
  const parts: Buffer[] = [];
  const s = createLineSplitter((b) => parts.push(Buffer.from(b)), 10);
  s.push(Buffer.from('aaaaaaaa€€€bbbb'));
  s.push(Buffer.from('cc\nnext\n'));
  t.same(parts.map((p) => p.toString()), ['aaaaaaaa', '€€€b', 'bbbcc', 'next']);
  t.ok(parts.every((p) => p.length <= 10));
  t.end();
});

void t.test('invalid UTF-8 bytes pass through capture untouched (the batcher replaces them)', async (t) => {
  const lines: LogLine[] = [];
  const out = new PassThrough();
  const cap = createLineCapture({ readable: out, source: 's', onLine: (l) => lines.push(l) });
  out.end(Buffer.from([0xff, 0x41, 0x0a]));
  await cap.done;
  t.same([...lines[0]!.text], [0xff, 0x41]);
});

void t.test('the agent pino root writes its JSON lines to stdout and to the shipper destination', (t) => {
  const lines: LogLine[] = [];
  const dest = createPinoDestination({ source: 'agent', onLine: (l) => lines.push(l) });
  const other = new PassThrough();
  const log = pino({ base: null }, pino.multistream([{ stream: other }, { stream: dest }]));
  log.info({ clusterId: 'c1' }, 'agent enrolled');
  log.warn('second');
  t.equal(lines.length, 2);
  t.equal(lines[0]!.source, 'agent');
  t.match(JSON.parse(lines[0]!.text.toString()), { clusterId: 'c1', msg: 'agent enrolled', level: 30 });
  t.match(JSON.parse(lines[1]!.text.toString()), { msg: 'second', level: 40 });
  t.match(String(other.read()), /agent enrolled/);
  t.end();
});
