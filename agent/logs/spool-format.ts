// How one LogLine is framed in a spool segment, so a torn last record (kill -9, power loss) is detected:
//
//   +----------------+----------------+---------------------------------------------------------+
//   | u32 LE length  | u32 LE crc32   | payload: f64 LE timestampMs | u16 LE n | source (n B) | text |
//   +----------------+----------------+---------------------------------------------------------+
//
// `length` is the payload's byte count; the crc32 covers the payload. A reader stops at the first record
// whose length runs past the end of the file (torn) or whose crc does not match (corrupt).
import { crc32 } from 'node:zlib';
import type { LogLine } from './types.js';

export const HEADER_BYTES = 8;
const PAYLOAD_FIXED_BYTES = 10;
/** No record is ever larger than this: a longer length field means corruption. 64 MiB. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export function encodedSize(sourceBytes: number, textBytes: number): number {
  return HEADER_BYTES + PAYLOAD_FIXED_BYTES + sourceBytes + textBytes;
}

/** Writes the framed record into `buf` at `pos` (which must have room) and returns the end offset. */
export function encodeInto(buf: Buffer, pos: number, timestampMs: number, source: Buffer, text: Buffer): number {
  const payloadStart = pos + HEADER_BYTES;
  buf.writeDoubleLE(timestampMs, payloadStart);
  buf.writeUInt16LE(source.length, payloadStart + 8);
  source.copy(buf, payloadStart + PAYLOAD_FIXED_BYTES);
  text.copy(buf, payloadStart + PAYLOAD_FIXED_BYTES + source.length);
  const end = payloadStart + PAYLOAD_FIXED_BYTES + source.length + text.length;
  buf.writeUInt32LE(end - payloadStart, pos);
  buf.writeUInt32LE(crc32(buf.subarray(payloadStart, end)), pos + 4);
  return end;
}

export type DecodeResult =
  | { kind: 'record'; line: LogLine; end: number }
  /** The buffer ends inside this record; `needBytes` is the whole record's size. */
  | { kind: 'incomplete'; needBytes: number }
  | { kind: 'corrupt'; reason: string };

/** Decodes the record starting at `pos` in `buf[0, limit)`. `text` is a view into `buf`. */
export function decodeAt(buf: Buffer, pos: number, limit: number): DecodeResult {
  if (limit - pos < HEADER_BYTES) return { kind: 'incomplete', needBytes: HEADER_BYTES };
  const length = buf.readUInt32LE(pos);
  if (length < PAYLOAD_FIXED_BYTES || length > MAX_RECORD_BYTES) return { kind: 'corrupt', reason: `bad length ${length}` };
  const end = pos + HEADER_BYTES + length;
  if (end > limit) return { kind: 'incomplete', needBytes: HEADER_BYTES + length };
  const payloadStart = pos + HEADER_BYTES;
  const payload = buf.subarray(payloadStart, end);
  if (crc32(payload) !== buf.readUInt32LE(pos + 4)) return { kind: 'corrupt', reason: 'checksum mismatch' };
  const sourceLen = payload.readUInt16LE(8);
  if (PAYLOAD_FIXED_BYTES + sourceLen > length) return { kind: 'corrupt', reason: 'bad source length' };
  return {
    kind: 'record',
    line: {
      timestampMs: payload.readDoubleLE(0),
      source: payload.toString('utf8', PAYLOAD_FIXED_BYTES, PAYLOAD_FIXED_BYTES + sourceLen),
      text: payload.subarray(PAYLOAD_FIXED_BYTES + sourceLen),
    },
    end,
  };
}
