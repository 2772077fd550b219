// The durable spool: captured lines are appended to segment files on local disk (seg-000000000001.log, ...)
// and read back by the shipper from the checkpoint on. Everything here is synchronous local file I/O: an
// append costs a memcpy into a 256 KiB buffer, written when full or at the end of the event-loop turn, and
// fsync'd every `syncIntervalMs`.
//
//   append ─▶ [pending buffer] ─write─▶ active segment ─roll at segmentMaxBytes─▶ older segments
//                                             ▲                                        │
//   readChunk ◀── read cursor ────────────────┴────────────────────────────────────────┘
//   commit(end) ─▶ checkpoint.json (atomic) ─▶ segments wholly before it are deleted
//
// Past `budgetBytes` on disk the oldest segments are deleted; the lines in them not yet read are counted as
// dropped, logged once per drop, and a line saying so is appended to the spool (so it is shipped too).
import { closeSync, fdatasyncSync, mkdirSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { comparePositions, openCheckpoint, type SpoolPosition } from './checkpoint.js';
import { countRecords, createFdSyncer, listSegments, segName } from './segment-files.js';
import { decodeAt, encodedSize, encodeInto } from './spool-format.js';
import type { LogLine, PipelineLog } from './types.js';

export type { SpoolPosition } from './checkpoint.js';

export interface SpoolOptions {
  dir: string;
  log: PipelineLog;
  /** Most bytes kept on disk before the oldest segments are dropped. Default 512 MiB. */
  budgetBytes?: number;
  /** Segment size; default budget/8 clamped to [4 KiB, 8 MiB]. */
  segmentMaxBytes?: number;
  /** Longest time an appended line waits for fsync. Default 200 ms. */
  syncIntervalMs?: number;
  now?: () => number;
}

export interface SpoolChunk {
  lines: LogLine[];
  /** Sum of the lines' source + text + overhead bytes. */
  bytes: number;
  /** Position just after the last line: commit it once the sink accepted them all. */
  end: SpoolPosition;
}

export interface SpoolStats {
  /** Bytes on disk (and buffered) not yet committed. */
  pendingBytes: number;
  droppedLines: number;
  segments: number;
}

export interface Spool {
  append(line: LogLine): void;
  /** Write buffered lines to the active segment (no fsync). */
  writePending(): void;
  /** Write and fsync. */
  sync(): void;
  /**
   * Next lines after the read cursor, at most maxLines and maxBytes (counting source + text + overheadPerLine
   * bytes per line; a single larger line is returned alone). Each line's `text` is a view into a read buffer
   * that the next readChunk reuses: copy or decode it before calling again.
   */
  readChunk(maxBytes: number, maxLines: number, overheadPerLine?: number): SpoolChunk | undefined;
  /** The sink accepted everything before `end`: advance the checkpoint, delete shipped segments. */
  commit(end: SpoolPosition): void;
  /** Whether lines exist past the read cursor (on disk or buffered). */
  hasUnread(): boolean;
  stats(): SpoolStats;
  close(): void;
}

interface Segment {
  seq: number;
  size: number;
  /** Lines in it, when known (segments written by this process). */
  lines: number | undefined;
}

const PENDING_BYTES = 256 * 1024;
const CHECKPOINT_SYNC_MS = 1000;
const READ_BYTES = 1024 * 1024;
export const DEFAULT_BUDGET_BYTES = 512 * 1024 * 1024;


export function openSpool(opts: SpoolOptions): Spool {
  const { dir, log } = opts;
  const now = opts.now ?? Date.now;
  const budgetBytes = opts.budgetBytes ?? DEFAULT_BUDGET_BYTES;
  const segmentMaxBytes = opts.segmentMaxBytes ?? Math.max(4096, Math.min(8 * 1024 * 1024, Math.floor(budgetBytes / 8)));
  mkdirSync(dir, { recursive: true });
  const path = (seq: number): string => join(dir, segName(seq));

  const segments: Segment[] = listSegments(dir).map((seq) => ({ seq, size: statSync(path(seq)).size, lines: undefined }));

  const checkpointFile = openCheckpoint(dir);
  const checkpoint: SpoolPosition = checkpointFile.position ?? { seq: segments[0]?.seq ?? 1, offset: 0 };
  while (segments[0] && segments[0].seq < checkpoint.seq) unlinkSync(path(segments.shift()!.seq));

  // A restarted spool never appends to an old segment: its tail may be torn.
  let active: Segment = { seq: Math.max(segments.at(-1)?.seq ?? 0, checkpoint.seq) + 1, size: 0, lines: 0 };
  let activeFd = openSync(path(active.seq), 'a');
  segments.push(active);

  let cursor: SpoolPosition = { ...checkpoint };
  let cursorLinesInSeg = 0;
  let reader: { seq: number; fd: number } | undefined;
  let pending = Buffer.allocUnsafe(PENDING_BYTES);
  let pendingLen = 0;
  let pendingLines = 0;
  let dirty = false;
  let writeScheduled = false;
  let droppedLines = 0;
  let dropping = false;
  let closed = false;
  let lastCheckpointSyncMs = 0;
  // Reused for every read (bounded memory, little garbage): a chunk's lines are views into it.
  const readBuf = Buffer.allocUnsafe(READ_BYTES);
  const sourceBytes = new Map<string, Buffer>();

  const { syncAsync, retire, inFlight } = createFdSyncer(log);

  const syncTimer = setInterval(() => {
    if (closed || inFlight(activeFd)) return;
    try {
      writePending();
    } catch (err) {
      log.error({ err }, 'could not write the log spool');
      return;
    }
    if (!dirty) return;
    dirty = false;
    syncAsync(activeFd);
  }, opts.syncIntervalMs ?? 200);
  syncTimer.unref();

  function writePending(): void {
    if (pendingLen === 0) return;
    writeSync(activeFd, pending, 0, pendingLen);
    active.size += pendingLen;
    active.lines = (active.lines ?? 0) + pendingLines;
    pendingLen = 0;
    pendingLines = 0;
    if (pending.length > PENDING_BYTES) pending = Buffer.allocUnsafe(PENDING_BYTES);
    dirty = true;
    enforceBudget();
  }

  function sync(): void {
    writePending();
    if (dirty) fdatasyncSync(activeFd);
    dirty = false;
  }

  function roll(): void {
    writePending();
    // fsync the finished segment on the thread pool, then close it: a roll every few MiB must not stall capture.
    const finished = activeFd;
    if (dirty) syncAsync(finished);
    dirty = false;
    retire(finished);
    active = { seq: active.seq + 1, size: 0, lines: 0 };
    activeFd = openSync(path(active.seq), 'a');
    segments.push(active);
  }

  function closeReader(): void {
    if (reader) closeSync(reader.fd);
    reader = undefined;
  }

  function enforceBudget(): void {
    if (dropping) return;
    let dropped = 0;
    let total = segments.reduce((s, g) => s + g.size, 0);
    while (total > budgetBytes && segments.length > 1) {
      const seg = segments.shift()!;
      total -= seg.size;
      if (cursor.seq <= seg.seq) {
        if (cursor.seq < seg.seq) dropped += seg.lines ?? countRecords(path(seg.seq), 0, seg.size);
        else dropped += seg.lines !== undefined ? seg.lines - cursorLinesInSeg : countRecords(path(seg.seq), cursor.offset, seg.size);
        cursor = { seq: segments[0]!.seq, offset: 0 };
        cursorLinesInSeg = 0;
      }
      if (reader?.seq === seg.seq) closeReader();
      unlinkSync(path(seg.seq));
    }
    if (dropped <= 0) return;
    droppedLines += dropped;
    log.warn({ droppedLines: dropped, budgetBytes }, 'log spool over budget, dropped the oldest lines');
    dropping = true;
    try {
      const text = `skiff: dropped ${dropped} log lines (spool over budget ${budgetBytes} bytes)`;
      append({ timestampMs: now(), source: '', text: Buffer.from(text) });
    } finally {
      dropping = false;
    }
  }

  function append(line: LogLine): void {
    if (closed) return;
    let source = sourceBytes.get(line.source);
    if (!source) {
      source = Buffer.from(line.source);
      if (sourceBytes.size < 256) sourceBytes.set(line.source, source);
    }
    const size = encodedSize(source.length, line.text.length);
    if (active.size + pendingLen > 0 && active.size + pendingLen + size > segmentMaxBytes) roll();
    if (pendingLen + size > pending.length) writePending();
    if (size > pending.length) pending = Buffer.allocUnsafe(size);
    pendingLen = encodeInto(pending, pendingLen, line.timestampMs, source, line.text);
    pendingLines++;
    // Hand the bytes to the kernel at the end of this turn of the event loop: a killed agent (not a crashed
    // machine) then loses at most the lines of the current turn; fsync follows every syncIntervalMs.
    if (!writeScheduled) {
      writeScheduled = true;
      setImmediate(() => {
        writeScheduled = false;
        if (closed) return;
        try {
          writePending();
        } catch (err) {
          log.error({ err }, 'could not write the log spool');
        }
      }).unref();
    }
  }

  function nextSegment(): boolean {
    const next = segments.find((s) => s.seq > cursor.seq);
    if (!next) return false;
    cursor = { seq: next.seq, offset: 0 };
    cursorLinesInSeg = 0;
    return true;
  }

  function readChunk(maxBytes: number, maxLines: number, overheadPerLine = 0): SpoolChunk | undefined {
    writePending();
    const lines: LogLine[] = [];
    let bytes = 0;
    let full = false;
    while (!full && bytes < maxBytes && lines.length < maxLines) {
      const seg = segments.find((s) => s.seq >= cursor.seq);
      if (!seg) break;
      if (seg.seq !== cursor.seq) {
        cursor = { seq: seg.seq, offset: 0 };
        cursorLinesInSeg = 0;
      }
      if (cursor.offset >= seg.size) {
        if (seg === active || !nextSegment()) break;
        continue;
      }
      if (reader?.seq !== seg.seq) {
        closeReader();
        reader = { seq: seg.seq, fd: openSync(path(seg.seq), 'r') };
      }
      const want = Math.min(seg.size - cursor.offset, READ_BYTES);
      // The first read of a chunk uses the shared buffer; any further read must not overwrite its lines.
      let buf = lines.length === 0 ? readBuf : Buffer.allocUnsafe(want);
      let got = readSync(reader.fd, buf, 0, want, cursor.offset);
      let pos = 0;
      let stop = false;
      while (pos < got && lines.length < maxLines) {
        const r = decodeAt(buf, pos, got);
        if (r.kind === 'record') {
          const size = r.line.text.length + r.line.source.length + overheadPerLine;
          if (lines.length > 0 && bytes + size > maxBytes) {
            full = true; // leave this record for the next chunk
            break;
          }
          lines.push(r.line);
          bytes += size;
          pos = r.end;
          cursorLinesInSeg++;
          continue;
        }
        if (r.kind === 'incomplete' && pos === 0 && cursor.offset + r.needBytes <= seg.size) {
          // One record bigger than the read buffer: read exactly it.
          buf = Buffer.allocUnsafe(r.needBytes);
          got = readSync(reader.fd, buf, 0, r.needBytes, cursor.offset);
          if (got === r.needBytes) continue;
        }
        if (r.kind === 'incomplete' && cursor.offset + pos + r.needBytes <= seg.size) break; // rest in the next read
        // A torn tail (killed mid-write) or corruption: nothing after it in this segment can be trusted.
        const skipped = seg.size - cursor.offset - pos;
        log.warn({ segment: seg.seq, offset: cursor.offset + pos, skippedBytes: skipped, reason: r.kind === 'corrupt' ? r.reason : 'torn record' },
          'skipping the damaged tail of a log spool segment');
        if (seg === active) {
          pos = seg.size - cursor.offset; // cannot happen for a segment we wrote ourselves; skip to its end
        } else {
          stop = true;
        }
        break;
      }
      cursor = { seq: cursor.seq, offset: cursor.offset + pos };
      if (stop && !nextSegment()) break;
    }
    return lines.length === 0 ? undefined : { lines, bytes, end: { ...cursor } };
  }

  function commit(end: SpoolPosition): void {
    const first = segments[0]!;
    const pos = end.seq < first.seq ? { seq: first.seq, offset: 0 } : end;
    // fsync the checkpoint at most once per second (and whenever a segment is about to be deleted): a power
    // loss then re-ships at most a second of batches; a killed process re-ships at most the batch in flight.
    const deleting = segments.length > 1 && first.seq < pos.seq;
    const fsync = deleting || now() - lastCheckpointSyncMs >= CHECKPOINT_SYNC_MS;
    checkpointFile.write(pos, fsync);
    if (fsync) lastCheckpointSyncMs = now();
    checkpoint.seq = pos.seq;
    checkpoint.offset = pos.offset;
    while (segments.length > 1 && segments[0]!.seq < pos.seq) {
      const seg = segments.shift()!;
      if (reader?.seq === seg.seq) closeReader();
      unlinkSync(path(seg.seq));
    }
  }

  function pendingBytes(): number {
    let n = pendingLen;
    for (const s of segments) {
      if (s.seq > checkpoint.seq) n += s.size;
      else if (s.seq === checkpoint.seq) n += Math.max(0, s.size - checkpoint.offset);
    }
    return n;
  }

  return {
    append,
    writePending,
    sync,
    readChunk,
    commit,
    hasUnread: () => pendingLen > 0 || segments.some((s) => comparePositions(cursor, { seq: s.seq, offset: s.size }) < 0),
    stats: () => ({ pendingBytes: pendingBytes(), droppedLines, segments: segments.length }),
    close() {
      if (closed) return;
      sync();
      closed = true;
      clearInterval(syncTimer);
      closeReader();
      retire(activeFd);
      checkpointFile.close();
    },
  };
}
