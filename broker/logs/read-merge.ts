// Reads several log streams as one, in timestamp order: a k-way merge of each stream's pages (one page per
// stream in memory), then, when following, a poll every pollMs that picks up new events and new streams.
//
//   stream A pages ─┐
//   stream B pages ─┼─▶ pick the earliest head ─▶ filter ─▶ yield { timestamp, stream, message }
//   stream C pages ─┘
import { setTimeout as delay } from 'node:timers/promises';
import type { LogEvent, ReadEvent } from '../api/logs.js';

/** One stream's events, page by page. `atEnd` means: nothing more for now (more may come when following). */
export interface PageSource {
  readonly stream: string;
  nextPage(signal: AbortSignal): Promise<{ events: LogEvent[]; atEnd: boolean }>;
}

export interface MergeOptions {
  /** The streams to read now (called again on every poll when following, to pick up new ones). */
  discover: (signal: AbortSignal) => Promise<string[]>;
  open: (stream: string) => PageSource;
  filter?: string;
  follow?: boolean;
  pollMs?: number;
  signal?: AbortSignal;
}

interface Head {
  source: PageSource;
  events: LogEvent[];
  index: number;
  atEnd: boolean;
}

export async function* readMerged(opts: MergeOptions): AsyncGenerator<ReadEvent> {
  const signal = opts.signal ?? new AbortController().signal;
  const heads = new Map<string, Head>();
  const matches = (m: string): boolean => opts.filter === undefined || m.includes(opts.filter);

  async function refreshStreams(): Promise<void> {
    for (const stream of await opts.discover(signal)) {
      if (!heads.has(stream)) heads.set(stream, { source: opts.open(stream), events: [], index: 0, atEnd: false });
    }
  }

  /** Makes sure `h` has a buffered event unless its stream is at its end for now. */
  async function fill(h: Head): Promise<void> {
    while (h.index >= h.events.length && !h.atEnd) {
      const page = await h.source.nextPage(signal);
      h.events = page.events;
      h.index = 0;
      h.atEnd = page.atEnd;
    }
  }

  await refreshStreams();
  // Catch up: merge until every stream is at its end.
  for (;;) {
    if (signal.aborted) return;
    let best: Head | undefined;
    for (const h of heads.values()) {
      await fill(h);
      const e = h.events[h.index];
      if (e && (!best || e.timestamp < best.events[best.index]!.timestamp)) best = h;
    }
    if (!best) break;
    const e = best.events[best.index++]!;
    if (matches(e.message)) yield { timestamp: e.timestamp, stream: best.source.stream, message: e.message };
  }
  if (!opts.follow) return;

  // Follow: each round gathers what is new in every stream and yields it in timestamp order.
  while (!signal.aborted) {
    // A referenced timer: `skiff logs --follow` has nothing else keeping it alive.
    await delay(opts.pollMs ?? 1000, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return;
    await refreshStreams();
    const round: ReadEvent[] = [];
    for (const h of heads.values()) {
      h.atEnd = false;
      for (;;) {
        await fill(h);
        const e = h.events[h.index];
        if (!e) break;
        h.index++;
        if (matches(e.message)) round.push({ timestamp: e.timestamp, stream: h.source.stream, message: e.message });
      }
    }
    round.sort((a, b) => a.timestamp - b.timestamp);
    yield* round;
  }
}
