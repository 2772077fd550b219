// Reads a TLS ClientHello without terminating TLS, so the gateway can route on ALPN and SNI. This code faces
// the internet: it never throws, never reads outside `buf`, checks every length against its container, and
// answers 'incomplete' only while more bytes could still make a valid hello that fits in `maxBytes`.
//
//   record:     type(1)=22  version(2)=0x03xx  length(2)  fragment(length)      -- repeated
//   handshake:  type(1)=1   length(3)  body(length)                              -- may span several records
//   body:       legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//               compression_methods<1..2^8-1> [extensions<0..2^16-1>]
//   extension:  type(2) length(2) data(length); 0 = server_name, 16 = ALPN

export type HelloResult =
  | { kind: 'incomplete' }
  | { kind: 'hello'; alpn: string[]; sni?: string; bytes: number }
  | { kind: 'reject'; reason: string };

const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_HEADER_BYTES = 4;
const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_TYPE_CLIENT_HELLO = 1;
// RFC 8446 §5.1: a plaintext record fragment is at most 2^14 bytes.
const MAX_RECORD_FRAGMENT_BYTES = 16_384;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

type Reject = { kind: 'reject'; reason: string };

const INCOMPLETE: HelloResult = { kind: 'incomplete' };

function reject(reason: string): Reject {
  return { kind: 'reject', reason };
}

export function parseClientHello(buf: Buffer, maxBytes: number): HelloResult {
  try {
    return parse(buf, maxBytes);
  } catch {
    // Unreachable by construction (every read is bounds-checked); kept so a bug can never crash the gateway.
    return reject('internal parser error');
  }
}

function parse(all: Buffer, maxBytes: number): HelloResult {
  // Only the first maxBytes count: a hello must be complete within them (bytes after it may be early data).
  const buf = all.length > maxBytes ? all.subarray(0, maxBytes) : all;
  // Handshake bytes gathered from the record fragments seen so far.
  const fragments: Buffer[] = [];
  let handshakeBytes = 0;
  let helloLength = -1; // body length once the handshake header is known
  let offset = 0;
  for (;;) {
    const header = checkRecordHeader(buf, offset);
    if (header !== undefined) return header;
    if (buf.length - offset < RECORD_HEADER_BYTES) return incompleteUnlessFull(buf, maxBytes);
    const fragmentLength = buf.readUInt16BE(offset + 3);
    if (fragmentLength === 0) return reject('empty handshake record');
    if (fragmentLength > MAX_RECORD_FRAGMENT_BYTES) return reject(`record length ${fragmentLength} exceeds 16384`);
    const fragmentStart = offset + RECORD_HEADER_BYTES;
    const fragmentEnd = Math.min(buf.length, fragmentStart + fragmentLength);
    fragments.push(buf.subarray(fragmentStart, fragmentEnd));
    handshakeBytes += fragmentEnd - fragmentStart;

    if (helloLength < 0 && handshakeBytes >= 1) {
      const first = fragments[0];
      if (first !== undefined && first.length >= 1 && first[0] !== HANDSHAKE_TYPE_CLIENT_HELLO) {
        return reject(`handshake message type ${first[0]} is not ClientHello`);
      }
    }
    if (helloLength < 0 && handshakeBytes >= HANDSHAKE_HEADER_BYTES) {
      const head = Buffer.concat(fragments).subarray(0, HANDSHAKE_HEADER_BYTES);
      helloLength = head.readUIntBE(1, 3);
      // Smallest possible wire size of this hello: one record header plus the handshake message.
      if (RECORD_HEADER_BYTES + HANDSHAKE_HEADER_BYTES + helloLength > maxBytes) {
        return reject(`ClientHello of ${helloLength} bytes exceeds the ${maxBytes}-byte limit`);
      }
    }
    if (helloLength >= 0 && handshakeBytes >= HANDSHAKE_HEADER_BYTES + helloLength) {
      if (fragmentEnd < fragmentStart + fragmentLength) return incompleteUnlessFull(buf, maxBytes);
      const message = Buffer.concat(fragments);
      const body = message.subarray(HANDSHAKE_HEADER_BYTES, HANDSHAKE_HEADER_BYTES + helloLength);
      const result = parseBody(body);
      if (result.kind !== 'hello') return result;
      return { ...result, bytes: fragmentEnd };
    }
    if (fragmentEnd < fragmentStart + fragmentLength) return incompleteUnlessFull(buf, maxBytes);
    offset = fragmentEnd;
  }
}

// Checks the bytes of a record header that are present; undefined means "fine so far".
function checkRecordHeader(buf: Buffer, offset: number): HelloResult | undefined {
  const type = buf[offset];
  if (type !== undefined && type !== CONTENT_TYPE_HANDSHAKE) {
    return reject(`record content type ${type} is not a TLS handshake`);
  }
  const major = buf[offset + 1];
  if (major !== undefined && major !== 3) return reject(`record version major ${major} is not TLS`);
  return undefined;
}

function incompleteUnlessFull(buf: Buffer, maxBytes: number): HelloResult {
  // `buf` is already cut at maxBytes, so reaching that length means the hello does not fit.
  return buf.length >= maxBytes ? reject(`no complete ClientHello within ${maxBytes} bytes`) : INCOMPLETE;
}

// A cursor over one length-delimited container; every read fails (returns undefined) past its end.
class Reader {
  constructor(
    private readonly buf: Buffer,
    private pos = 0,
    private readonly end = buf.length,
  ) {}
  get remaining(): number {
    return this.end - this.pos;
  }
  u8(): number | undefined {
    if (this.remaining < 1) return undefined;
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  bytes(n: number): Buffer | undefined {
    if (n < 0 || this.remaining < n) return undefined;
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  // A sub-reader over the next `n` bytes, or undefined if they are not all inside this container.
  sub(n: number): Reader | undefined {
    const b = this.bytes(n);
    return b === undefined ? undefined : new Reader(b);
  }
}

type Hello = { kind: 'hello'; alpn: string[]; sni?: string };

function parseBody(body: Buffer): Hello | Reject {
  const r = new Reader(body);
  const major = r.u8();
  if (major === undefined || r.u8() === undefined) return reject('ClientHello truncated in legacy_version');
  if (major !== 3) return reject(`ClientHello version major ${major} is not TLS`);
  if (r.bytes(32) === undefined) return reject('ClientHello truncated in random');
  const sessionIdLength = r.u8();
  if (sessionIdLength === undefined || sessionIdLength > 32) return reject('bad session id length');
  if (r.bytes(sessionIdLength) === undefined) return reject('session id overruns ClientHello');
  const suitesLength = r.u16();
  if (suitesLength === undefined || suitesLength < 2 || suitesLength % 2 !== 0) {
    return reject('bad cipher suites length');
  }
  if (r.bytes(suitesLength) === undefined) return reject('cipher suites overrun ClientHello');
  const compressionLength = r.u8();
  if (compressionLength === undefined || compressionLength < 1) return reject('bad compression methods length');
  if (r.bytes(compressionLength) === undefined) return reject('compression methods overrun ClientHello');
  // A hello without extensions is legal (TLS 1.0/1.1 style): no ALPN, no SNI.
  if (r.remaining === 0) return { kind: 'hello', alpn: [] };
  const extensionsLength = r.u16();
  if (extensionsLength === undefined || extensionsLength !== r.remaining) {
    return reject('extensions length does not match the ClientHello body');
  }
  const exts = new Reader(r.bytes(extensionsLength) ?? Buffer.alloc(0));
  const seen = new Set<number>();
  let alpn: string[] = [];
  let sni: string | undefined;
  while (exts.remaining > 0) {
    const type = exts.u16();
    const length = exts.u16();
    if (type === undefined || length === undefined) return reject('truncated extension header');
    if (seen.has(type)) return reject(`duplicate extension ${type}`);
    seen.add(type);
    const data = exts.sub(length);
    if (data === undefined) return reject(`extension ${type} overruns the extensions block`);
    if (type === EXT_ALPN) {
      const parsed = parseAlpn(data);
      if (typeof parsed === 'string') return reject(parsed);
      alpn = parsed;
    } else if (type === EXT_SERVER_NAME) {
      const parsed = parseServerName(data);
      if (parsed.error !== undefined) return reject(parsed.error);
      sni = parsed.name;
    }
  }
  return sni === undefined ? { kind: 'hello', alpn } : { kind: 'hello', alpn, sni };
}

// RFC 7301: ProtocolNameList<2..2^16-1>, each ProtocolName<1..2^8-1>. Returns an error string when malformed.
function parseAlpn(data: Reader): string[] | string {
  const listLength = data.u16();
  if (listLength === undefined || listLength < 2 || listLength !== data.remaining) return 'bad ALPN list length';
  const names: string[] = [];
  while (data.remaining > 0) {
    const n = data.u8();
    if (n === undefined || n === 0) return 'empty ALPN protocol name';
    const name = data.bytes(n);
    if (name === undefined) return 'ALPN protocol name overruns its list';
    names.push(name.toString('latin1'));
  }
  return names;
}

// RFC 6066 §3: ServerNameList<1..2^16-1> of { type(1), HostName<1..2^16-1> }; type 0 is host_name.
function parseServerName(data: Reader): { name?: string; error?: string } {
  // An empty server_name extension is what a server echoes; a client should not send it, but it is harmless.
  if (data.remaining === 0) return {};
  const listLength = data.u16();
  if (listLength === undefined || listLength < 1 || listLength !== data.remaining) {
    return { error: 'bad server name list length' };
  }
  let name: string | undefined;
  while (data.remaining > 0) {
    const type = data.u8();
    const length = data.u16();
    if (type === undefined || length === undefined) return { error: 'truncated server name entry' };
    const value = data.bytes(length);
    if (value === undefined || length === 0) return { error: 'bad server name length' };
    if (type === 0 && name === undefined) {
      if (!value.every((b) => b > 0x20 && b < 0x7f)) return { error: 'server name is not printable ASCII' };
      name = value.toString('ascii');
    }
  }
  return name === undefined ? {} : { name };
}
