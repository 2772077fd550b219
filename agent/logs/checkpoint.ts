// The spool's checkpoint: the position (segment, byte offset) up to which the sink has accepted every line.
// Written atomically (tmp file + fsync + rename) so a crash leaves either the old or the new one.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolPosition {
  seq: number;
  offset: number;
}

const FILE = 'checkpoint.json';

export function readCheckpoint(dir: string): SpoolPosition | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as { seq?: unknown; offset?: unknown };
    if (Number.isSafeInteger(parsed.seq) && Number.isSafeInteger(parsed.offset)) {
      return { seq: parsed.seq as number, offset: parsed.offset as number };
    }
  } catch {
    // missing or unreadable: start from the oldest segment (at-least-once)
  }
  return undefined;
}

export function writeCheckpoint(dir: string, pos: SpoolPosition): void {
  const tmp = join(dir, `${FILE}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify({ seq: pos.seq, offset: pos.offset }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, FILE));
}

export function comparePositions(a: SpoolPosition, b: SpoolPosition): number {
  return a.seq !== b.seq ? a.seq - b.seq : a.offset - b.offset;
}
