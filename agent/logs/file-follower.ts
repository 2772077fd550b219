// Follows a named file (the boot log) like `tail -F`: polls it, reads what was appended, and survives
//   rotation   (the path now names another inode: finish the old file, then read the new one from its start)
//   truncation (the file got shorter than what we read: start again from 0)
//   absence    (not created yet, or rotated away: keep polling).
// Polling (default every 500 ms) rather than fs.watch, which misses events on some filesystems.
// With `statePath`, the position (inode, offset) is saved after each read so a restarted agent resumes
// instead of shipping the whole file again.
import { open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { createLineSplitter, DEFAULT_MAX_LINE_BYTES } from './line-splitter.js';
import type { LogLine, PipelineLog } from './types.js';

export interface FileFollowerOptions {
  path: string;
  source: string;
  onLine: (line: LogLine) => void;
  log: PipelineLog;
  now?: () => number;
  pollMs?: number;
  statePath?: string;
  maxLineBytes?: number;
}

export interface FileFollower {
  /** Read whatever is new now (also called by the poll timer). */
  poll(): Promise<void>;
  /** Stop polling after one last read; a partial last line is emitted. */
  stop(): Promise<void>;
}

const READ_CHUNK_BYTES = 64 * 1024;
/** Most bytes read per poll, so a huge file does not monopolise the event loop: 8 MiB. */
const MAX_BYTES_PER_POLL = 8 * 1024 * 1024;

export function createFileFollower(opts: FileFollowerOptions): FileFollower {
  const now = opts.now ?? Date.now;
  let ts = 0;
  const splitter = createLineSplitter(
    (text) => opts.onLine({ timestampMs: ts, source: opts.source, text }),
    opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
  );
  let fh: FileHandle | undefined;
  let ino = -1;
  let offset = 0;
  let restored = false;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);

  async function restore(): Promise<void> {
    restored = true;
    if (opts.statePath === undefined) return;
    try {
      const saved = JSON.parse(await readFile(opts.statePath, 'utf8')) as { ino?: unknown; offset?: unknown };
      if (typeof saved.ino === 'number' && typeof saved.offset === 'number') {
        ino = saved.ino;
        offset = saved.offset;
      }
    } catch {
      // no saved position: start at the beginning
    }
  }

  async function save(): Promise<void> {
    if (opts.statePath === undefined) return;
    const tmp = `${opts.statePath}.tmp`;
    await writeFile(tmp, JSON.stringify({ ino, offset }));
    await rename(tmp, opts.statePath);
  }

  async function drain(limit: number): Promise<number> {
    if (!fh) return 0;
    let total = 0;
    while (total < limit) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK_BYTES, offset);
      if (bytesRead === 0) break;
      ts = now();
      splitter.push(buf.subarray(0, bytesRead));
      offset += bytesRead;
      total += bytesRead;
    }
    return total;
  }

  async function pollOnce(): Promise<void> {
    if (!restored) await restore();
    let st;
    try {
      st = await stat(opts.path);
    } catch {
      // Rotated away and not recreated yet (or not created yet): finish what the old file holds.
      if ((await drain(MAX_BYTES_PER_POLL)) > 0) await save();
      return;
    }
    if (fh && st.ino !== ino) {
      await drain(Number.MAX_SAFE_INTEGER);
      ts = now();
      splitter.end();
      await fh.close();
      fh = undefined;
      opts.log.info({ path: opts.path }, 'followed file was rotated, reading the new one');
      offset = 0;
    }
    if (!fh) {
      fh = await open(opts.path, 'r');
      const opened = await fh.stat();
      if (opened.ino !== ino) offset = 0;
      ino = opened.ino;
    }
    if (st.ino === ino && st.size < offset) {
      opts.log.info({ path: opts.path, offset, size: st.size }, 'followed file was truncated, reading it from the start');
      offset = 0;
    }
    if ((await drain(MAX_BYTES_PER_POLL)) > 0) await save();
  }

  function poll(): Promise<void> {
    running = running.then(pollOnce).catch((err: unknown) => {
      opts.log.warn({ path: opts.path, err }, 'could not read followed file, will retry');
    });
    return running;
  }

  const timer = setInterval(() => {
    if (!stopped) void poll();
  }, opts.pollMs ?? 500);
  timer.unref();
  void poll();

  return {
    poll,
    async stop() {
      if (stopped) return running;
      stopped = true;
      clearInterval(timer);
      await poll();
      ts = now();
      splitter.end();
      await fh?.close();
      fh = undefined;
    },
  };
}
