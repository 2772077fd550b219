import t from 'tap';
import { parseClientHello } from '../../../../agent/gateway/client-hello.js';
import { alpnExt, buildHello, ext, reframe, sample, sniExt } from './fixtures/hello-samples.js';

const MAX = 16_384;

void t.test('reads ALPN h2 and http/1.1 from a real curl ClientHello', (t) => {
  const hello = sample('curl');
  t.same(parseClientHello(hello, MAX), { kind: 'hello', alpn: ['h2', 'http/1.1'], bytes: hello.length });
  t.end();
});

void t.test('reads the server name from a curl ClientHello sent to a host name', (t) => {
  const hello = sample('curl-sni');
  t.same(parseClientHello(hello, MAX), {
    kind: 'hello',
    alpn: ['h2', 'http/1.1'],
    sni: 'dashboard.example',
    bytes: hello.length,
  });
  t.end();
});

void t.test('finds no ALPN in a Node tls.connect ClientHello', (t) => {
  const hello = sample('node-no-alpn');
  t.same(parseClientHello(hello, MAX), { kind: 'hello', alpn: [], bytes: hello.length });
  t.end();
});

void t.test("finds neither ALPN nor SNI in Debian's distributed client ClientHello to an IP", (t) => {
  const hello = sample('python-distributed');
  t.same(parseClientHello(hello, MAX), { kind: 'hello', alpn: [], bytes: hello.length });
  t.end();
});

void t.test('reassembles a ClientHello split over several TLS records', (t) => {
  for (const size of [1, 7, 100, 300]) {
    const split = reframe(sample('curl'), size);
    t.ok(split.length > sample('curl').length, `split into ${size}-byte records`);
    t.same(parseClientHello(split, MAX), { kind: 'hello', alpn: ['h2', 'http/1.1'], bytes: split.length });
  }
  t.end();
});

void t.test('stays incomplete while a split hello arrives one byte at a time, then decides once', (t) => {
  const split = reframe(sample('python-distributed'), 200);
  const kinds: string[] = [];
  for (let n = 1; n <= split.length; n++) kinds.push(parseClientHello(split.subarray(0, n), MAX).kind);
  t.equal(kinds.filter((k) => k !== 'incomplete').length, 1);
  t.equal(kinds.at(-1), 'hello');
  t.end();
});

void t.test('reports only the hello bytes when more data follows it', (t) => {
  const hello = sample('node-no-alpn');
  const r = parseClientHello(Buffer.concat([hello, Buffer.from([20, 3, 3, 0, 1, 1])]), MAX);
  t.same(r, { kind: 'hello', alpn: [], bytes: hello.length });
  t.end();
});

void t.test('accepts a minimal hello without an extensions block', (t) => {
  t.same(parseClientHello(buildHello(), MAX), { kind: 'hello', alpn: [], bytes: buildHello().length });
  t.end();
});

void t.test('rejects plain HTTP at the first byte', (t) => {
  t.match(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n'), MAX), { kind: 'reject' });
  t.match(parseClientHello(Buffer.from('G'), MAX), { kind: 'reject' });
  t.end();
});

void t.test('rejects an SSLv2-style hello, a non-handshake record and a handshake that is not a ClientHello', (t) => {
  t.match(parseClientHello(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), MAX), { kind: 'reject' });
  t.match(parseClientHello(Buffer.from([23, 3, 3, 0, 5, 1, 2, 3, 4, 5]), MAX), { kind: 'reject', reason: /content type 23/ });
  t.match(parseClientHello(Buffer.from([22, 2, 0]), MAX), { kind: 'reject', reason: /major/ });
  t.match(parseClientHello(buildHello([], { handshakeType: 2 }), MAX), { kind: 'reject', reason: /not ClientHello/ });
  t.match(parseClientHello(Buffer.from([22, 3, 1, 0, 0]), MAX), { kind: 'reject', reason: /empty/ });
  t.end();
});

void t.test('rejects a hello that cannot fit in maxBytes as soon as its length is known', (t) => {
  const header = Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0x00, 0x80, 0x00]);
  t.match(parseClientHello(header, MAX), { kind: 'reject', reason: /exceeds/ });
  t.match(parseClientHello(sample('curl'), 400), { kind: 'reject' });
  t.end();
});

void t.test('rejects a stream of records that reaches maxBytes without completing a hello', (t) => {
  const split = reframe(sample('curl'), 1);
  t.match(parseClientHello(split.subarray(0, 1000), 1000), { kind: 'reject', reason: /within 1000 bytes/ });
  t.equal(parseClientHello(split.subarray(0, 999), 1000).kind, 'incomplete');
  t.end();
});

void t.test('rejects malformed extensions', (t) => {
  const cases: [string, Buffer][] = [
    ['an empty ALPN name', alpnExt([''])],
    ['a duplicate extension', Buffer.concat([alpnExt(['h2']), alpnExt(['h2'])])],
    ['an ALPN list longer than its extension', ext(16, Buffer.from([0, 9, 2, 0x68, 0x32]))],
    ['an ALPN list shorter than its extension', ext(16, Buffer.from([0, 2, 1, 0x68, 0x32]))],
    ['a server name that is not printable', sniExt('a\nb')],
    ['a server name list with a bad length', ext(0, Buffer.from([0, 7, 0, 0, 1, 0x61]))],
  ];
  for (const [name, e] of cases) t.match(parseClientHello(buildHello([e]), MAX), { kind: 'reject' }, name);
  const badBlock = buildHello([alpnExt(['h2'])]);
  badBlock.writeUInt16BE(badBlock.readUInt16BE(5 + 4 + 2 + 32 + 1 + 2 + 2 + 2) + 1, 5 + 4 + 2 + 32 + 1 + 2 + 2 + 2);
  t.match(parseClientHello(badBlock, MAX), { kind: 'reject', reason: /extensions length/ }, 'extensions block length off by one');
  t.end();
});

void t.test('reads synthetic ALPN and SNI together and ignores unknown extensions', (t) => {
  const hello = buildHello([ext(0xfe0d, Buffer.alloc(10)), sniExt('x.example'), alpnExt(['http/1.1'])]);
  t.same(parseClientHello(hello, MAX), { kind: 'hello', alpn: ['http/1.1'], sni: 'x.example', bytes: hello.length });
  t.end();
});
