// Seeded fuzzing of the internet-facing ClientHello parser: whatever arrives, it returns one of its three
// results, never throws, never claims more bytes than it was given, and never decides early on a prefix.
import t from 'tap';
import { parseClientHello, type HelloResult } from '../../../../agent/gateway/client-hello.js';
import { SAMPLE_NAMES, reframe, sample } from './fixtures/hello-samples.js';

const MAX = 16_384;

// mulberry32: small, fast and deterministic, so a failing case can be replayed from its seed.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Check = { failures: string[]; kinds: Record<HelloResult['kind'], number> };

function newCheck(): Check {
  return { failures: [], kinds: { incomplete: 0, hello: 0, reject: 0 } };
}

// Runs the parser and records any broken invariant instead of asserting thousands of times.
function run(check: Check, label: string, buf: Buffer, maxBytes = MAX): HelloResult | undefined {
  let r: HelloResult;
  try {
    r = parseClientHello(buf, maxBytes);
  } catch (err) {
    check.failures.push(`${label}: threw ${String(err)}`);
    return undefined;
  }
  check.kinds[r.kind]++;
  if (r.kind === 'hello') {
    if (!(r.bytes > 0 && r.bytes <= buf.length && r.bytes <= maxBytes)) check.failures.push(`${label}: bytes ${r.bytes}`);
    if (r.alpn.some((p) => p.length === 0 || p.length > 255)) check.failures.push(`${label}: bad alpn`);
  } else if (r.kind === 'reject') {
    if (typeof r.reason !== 'string' || r.reason === '') check.failures.push(`${label}: no reason`);
  } else if (buf.length >= maxBytes) {
    check.failures.push(`${label}: incomplete at ${buf.length} >= maxBytes`);
  } else if (r.kind !== 'incomplete') {
    check.failures.push(`${label}: unknown kind`);
  }
  return r;
}

const reals: [string, Buffer][] = SAMPLE_NAMES.flatMap((n): [string, Buffer][] => [
  [n, sample(n)],
  [`${n}/split-64`, reframe(sample(n), 64)],
]);

void t.test('random bytes never make the parser throw', (t) => {
  const rand = prng(1);
  const check = newCheck();
  for (let i = 0; i < 3_000; i++) {
    const buf = Buffer.alloc(Math.floor(rand() * 700));
    for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rand() * 256);
    // Half of the cases start like a handshake record so the parser goes deeper than the first byte.
    if (i % 2 === 0 && buf.length >= 3) buf.set([22, 3, Math.floor(rand() * 5)]);
    run(check, `random#${i}`, buf);
  }
  t.same(check.failures, []);
  t.ok(check.kinds.reject > 1_000, 'most random input is rejected');
  t.end();
});

void t.test('every truncation of a real hello is incomplete', (t) => {
  const check = newCheck();
  for (const [name, hello] of reals) {
    for (let n = 0; n < hello.length; n++) {
      const r = run(check, `${name}[0,${n})`, hello.subarray(0, n));
      if (r !== undefined && r.kind !== 'incomplete') check.failures.push(`${name}[0,${n}): ${r.kind}`);
    }
    const whole = run(check, name, hello);
    if (whole?.kind !== 'hello') check.failures.push(`${name}: whole hello not recognised`);
  }
  t.same(check.failures, []);
  t.ok(check.kinds.incomplete > 3_000, `${check.kinds.incomplete} truncations checked`);
  t.end();
});

void t.test('random byte flips in real hellos return a result within bounds', (t) => {
  const rand = prng(2);
  const check = newCheck();
  for (let i = 0; i < 4_000; i++) {
    const [name, original] = reals[i % reals.length] ?? ['none', Buffer.alloc(0)];
    const buf = Buffer.from(original);
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips; f++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
    run(check, `${name} flip#${i}`, buf);
  }
  t.same(check.failures, []);
  t.ok(check.kinds.reject > 0 && check.kinds.hello > 0, 'flips produce both rejects and still-valid hellos');
  t.end();
});

// Offsets of the length fields in a single-record hello, found by walking it.
function lengthFieldOffsets(hello: Buffer): { offset: number; width: 1 | 2 | 3 }[] {
  const out: { offset: number; width: 1 | 2 | 3 }[] = [
    { offset: 3, width: 2 },
    { offset: 6, width: 3 },
  ];
  let p = 5 + 4 + 2 + 32;
  out.push({ offset: p, width: 1 });
  p += 1 + (hello[p] ?? 0);
  out.push({ offset: p, width: 2 });
  p += 2 + hello.readUInt16BE(p);
  out.push({ offset: p, width: 1 });
  p += 1 + (hello[p] ?? 0);
  out.push({ offset: p, width: 2 });
  p += 2;
  while (p + 4 <= hello.length) {
    out.push({ offset: p + 2, width: 2 });
    const type = hello.readUInt16BE(p);
    const len = hello.readUInt16BE(p + 2);
    if (type === 16 || type === 0) out.push({ offset: p + 4, width: 2 });
    p += 4 + len;
  }
  return out;
}

void t.test('corrupted length fields in real hellos never read out of bounds', (t) => {
  const rand = prng(3);
  const check = newCheck();
  let cases = 0;
  for (const name of SAMPLE_NAMES) {
    const hello = sample(name);
    const fields = lengthFieldOffsets(hello);
    t.ok(fields.length >= 8, `${name}: ${fields.length} length fields`);
    for (const { offset, width } of fields) {
      const max = 2 ** (8 * width) - 1;
      const current = hello.readUIntBE(offset, width);
      const values = [0, 1, current - 1, current + 1, max, max - 1, Math.floor(rand() * max)];
      for (const v of values) {
        if (v < 0 || v > max) continue;
        const buf = Buffer.from(hello);
        buf.writeUIntBE(v, offset, width);
        run(check, `${name} len@${offset}=${v}`, buf);
        cases++;
      }
    }
  }
  t.same(check.failures, []);
  t.ok(cases > 200, `${cases} corrupted lengths`);
  t.ok(check.kinds.reject + check.kinds.incomplete > cases / 2, 'most corrupted lengths do not parse as a hello');
  t.end();
});

void t.test('oversized input is rejected, never left incomplete', (t) => {
  const rand = prng(4);
  const check = newCheck();
  for (let i = 0; i < 200; i++) {
    const maxBytes = 64 + Math.floor(rand() * 2_000);
    // A record header declaring more than fits, followed by filler.
    const buf = Buffer.alloc(maxBytes + Math.floor(rand() * 100));
    buf.set([22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xf0]);
    const r = run(check, `oversized#${i}`, buf, maxBytes);
    if (r?.kind !== 'reject') check.failures.push(`oversized#${i}: ${r?.kind ?? 'threw'}`);
    // A real hello cut into 1-byte records, longer than maxBytes before it completes.
    const split = reframe(sample('curl'), 1);
    const r2 = run(check, `split#${i}`, split, Math.min(maxBytes, split.length - 1));
    if (r2?.kind !== 'reject') check.failures.push(`split#${i}: ${r2?.kind ?? 'threw'}`);
  }
  t.same(check.failures, []);
  t.end();
});
