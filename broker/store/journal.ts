// A durable key-value store as an append-only journal of JSON lines, one line per change, fsync'd before
// the change is acknowledged. Loading replays the journal (last write wins). A torn final line (the
// process died mid-write) is ignored; damage anywhere else is reported, never silently skipped.
// When the journal has grown well past the live data it is compacted: the live records are written to a
// new file, fsync'd, and renamed over the old one (atomic on POSIX), so a crash leaves one or the other.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SkiffError } from '../api/errors.js';

type Entry = { op: 'put'; table: string; key: string; value: unknown } | { op: 'del'; table: string; key: string };

export interface Journal {
  get<T>(table: string, key: string): T | undefined;
  all<T>(table: string): T[];
  put(table: string, key: string, value: unknown): void;
  del(table: string, key: string): void;
  close(): void;
}

export function openJournal(path: string, opts: { compactMinLines?: number } = {}): Journal {
  const compactMinLines = opts.compactMinLines ?? 2000;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tables = new Map<string, Map<string, unknown>>();
  let lines = 0;

  const table = (name: string): Map<string, unknown> => {
    let t = tables.get(name);
    if (!t) tables.set(name, (t = new Map<string, unknown>()));
    return t;
  };
  const apply = (e: Entry): void => {
    if (e.op === 'put') table(e.table).set(e.key, e.value);
    else table(e.table).delete(e.key);
  };

  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8');
    const raw = text.split('\n');
    const lastIndex = text.endsWith('\n') ? raw.length - 2 : raw.length - 1;
    raw.forEach((line, i) => {
      if (line === '') return;
      try {
        apply(JSON.parse(line) as Entry);
        lines++;
      } catch (cause) {
        if (i === lastIndex && !text.endsWith('\n')) return; // torn write at the very end: never acknowledged
        throw new SkiffError('BRK_STORE_CORRUPT', `store ${path} is damaged at line ${i + 1}; restore it from a backup or move it away`, { cause });
      }
    });
  }

  const liveCount = (): number => [...tables.values()].reduce((n, t) => n + t.size, 0);

  let fd = -1;
  const rewrite = (): void => {
    const tmp = `${path}.tmp`;
    const out = openSync(tmp, 'w', 0o600);
    let body = '';
    for (const [name, t] of tables) for (const [key, value] of t) body += JSON.stringify({ op: 'put', table: name, key, value }) + '\n';
    writeSync(out, body);
    fsyncSync(out);
    closeSync(out);
    if (fd >= 0) closeSync(fd);
    renameSync(tmp, path);
    const dirFd = openSync(dirname(path), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
    fd = openSync(path, 'a', 0o600);
    lines = liveCount();
  };
  // Start from a clean file: drops a torn tail and compacts whatever the last run left.
  rewrite();

  const append = (e: Entry): void => {
    writeSync(fd, JSON.stringify(e) + '\n');
    fsyncSync(fd);
    apply(e);
    lines++;
    if (lines > compactMinLines && lines > 4 * liveCount()) rewrite();
  };

  return {
    get: <T>(name: string, key: string) => tables.get(name)?.get(key) as T | undefined,
    all: <T>(name: string) => [...(tables.get(name)?.values() ?? [])] as T[],
    put: (name, key, value) => append({ op: 'put', table: name, key, value }),
    del: (name, key) => append({ op: 'del', table: name, key }),
    close: () => {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    },
  };
}
