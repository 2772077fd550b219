// Real recorded ClientHellos (see fixtures/record.ts) and builders for re-framed or synthetic ones.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const SAMPLE_NAMES = ['curl', 'curl-sni', 'node-no-alpn', 'python-distributed'] as const;
export type SampleName = (typeof SAMPLE_NAMES)[number];

export function sample(name: SampleName): Buffer {
  return readFileSync(join(here, 'fixtures', `${name}.bin`));
}

function record(type: number, fragment: Buffer): Buffer {
  const h = Buffer.from([type, 3, 1, 0, 0]);
  h.writeUInt16BE(fragment.length, 3);
  return Buffer.concat([h, fragment]);
}

// The handshake message of a single-record hello.
export function handshakeOf(hello: Buffer): Buffer {
  return hello.subarray(5, 5 + hello.readUInt16BE(3));
}

// The same handshake message spread over records of at most `size` bytes each.
export function reframe(hello: Buffer, size: number): Buffer {
  const msg = handshakeOf(hello);
  const records: Buffer[] = [];
  for (let i = 0; i < msg.length; i += size) records.push(record(22, msg.subarray(i, i + size)));
  return Buffer.concat(records);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

export function alpnExt(names: string[]): Buffer {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([n.length]), Buffer.from(n, 'latin1')])));
  return ext(16, Buffer.concat([u16(list.length), list]));
}

export function sniExt(name: string): Buffer {
  const host = Buffer.from(name, 'latin1');
  const entry = Buffer.concat([Buffer.from([0]), u16(host.length), host]);
  return ext(0, Buffer.concat([u16(entry.length), entry]));
}

// A synthetic single-record ClientHello; `extensions` undefined = no extensions block at all.
export function buildHello(extensions?: Buffer[], opts: { handshakeType?: number } = {}): Buffer {
  const parts = [Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([0]), u16(2), u16(0x1301), Buffer.from([1, 0])];
  if (extensions !== undefined) {
    const block = Buffer.concat(extensions);
    parts.push(u16(block.length), block);
  }
  const body = Buffer.concat(parts);
  const header = Buffer.from([opts.handshakeType ?? 1, 0, 0, 0]);
  header.writeUIntBE(body.length, 1, 3);
  return record(22, Buffer.concat([header, body]));
}
