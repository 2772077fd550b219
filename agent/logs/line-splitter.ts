// Splits a byte stream into lines on \n (a trailing \r is dropped too). Memory is bounded: a line that grows past
// `maxLineBytes` without a newline is emitted in parts of at most that size, cut on a UTF-8 character boundary,
// in order; the batcher later splits anything over CloudWatch's per-event limit, so nothing is ever dropped.

export interface LineSplitter {
  push(chunk: Buffer): void;
  /** Emit what is left as a last line (the stream ended without a newline). */
  end(): void;
}

/**
 * Default longest line kept in memory before it is emitted in parts: four CloudWatch events' worth of message
 * (4 × 262,118 = 1,048,472 bytes), so the batcher's later split leaves no small remainders.
 */
export const DEFAULT_MAX_LINE_BYTES = 4 * 262_118;

/** Largest index ≤ limit that does not fall inside a UTF-8 multi-byte sequence (so each part decodes cleanly). */
export function utf8CutPoint(buf: Buffer, limit: number): number {
  if (limit >= buf.length) return buf.length;
  let cut = limit;
  // Step back over continuation bytes (10xxxxxx), at most 3, to the start of the character.
  for (let i = 0; i < 3 && cut > 0 && ((buf[cut] ?? 0) & 0xc0) === 0x80; i++) cut--;
  return cut > 0 ? cut : limit;
}

export function createLineSplitter(onLine: (line: Buffer) => void, maxLineBytes = DEFAULT_MAX_LINE_BYTES): LineSplitter {
  let parts: Buffer[] = [];
  let partBytes = 0;

  function emit(line: Buffer): void {
    const n = line.length;
    onLine(n > 0 && line[n - 1] === 13 ? line.subarray(0, n - 1) : line);
  }

  function spillOversize(): void {
    while (partBytes > maxLineBytes) {
      const all = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, partBytes);
      const cut = utf8CutPoint(all, maxLineBytes);
      onLine(Buffer.from(all.subarray(0, cut)));
      const rest = Buffer.from(all.subarray(cut));
      parts = rest.length > 0 ? [rest] : [];
      partBytes = rest.length;
    }
  }

  return {
    push(chunk) {
      let pos = 0;
      for (;;) {
        const nl = chunk.indexOf(10, pos);
        if (nl < 0) break;
        if (partBytes === 0) {
          emit(chunk.subarray(pos, nl));
        } else {
          parts.push(chunk.subarray(pos, nl));
          emit(Buffer.concat(parts, partBytes + nl - pos));
          parts = [];
          partBytes = 0;
        }
        pos = nl + 1;
      }
      if (pos < chunk.length) {
        // Copy: the caller may reuse its chunk buffer.
        const rest = Buffer.from(chunk.subarray(pos));
        parts.push(rest);
        partBytes += rest.length;
        spillOversize();
      }
    },
    end() {
      if (partBytes > 0) emit(Buffer.concat(parts, partBytes));
      parts = [];
      partBytes = 0;
    },
  };
}
