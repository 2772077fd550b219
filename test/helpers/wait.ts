// Waiting in tests for what cannot be awaited directly: poll a condition, bounded, and say what was awaited.
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `cond` every `everyMs` until it holds; false after `timeoutMs` (the caller asserts). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(everyMs);
  }
}

/** All items of an async iterable (at most `max`). */
export async function collect<T>(it: AsyncIterable<T>, max = Infinity): Promise<T[]> {
  const out: T[] = [];
  for await (const e of it) {
    out.push(e);
    if (out.length >= max) break;
  }
  return out;
}
