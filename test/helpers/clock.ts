// One make-believe clock for the unit tests: time moves only when the test advances it (or when code under
// test sleeps on it). It hands out the injectable shapes skiff's modules take: now(), setTimer/clearTimer
// (one-shot), setInterval/clearInterval, sleep(). Timers fire in time order; `each` sees every fired time.

interface Timer {
  fn: () => void;
  at: number;
  /** Repeat period; absent for a one-shot timer. */
  every?: number;
}

export interface FakeClock {
  now: () => number;
  setTimer: (fn: () => void, ms: number) => Timer;
  clearTimer: (h: unknown) => void;
  setInterval: (fn: () => void, every: number) => Timer;
  clearInterval: (h: unknown) => void;
  /** Resolves at once, having moved the clock by `ms` (and recorded the wait). */
  sleep: (ms: number) => Promise<void>;
  /** Every sleep asked for, in order. */
  readonly waits: number[];
  /** Moves the clock by `ms`, firing what falls due in order; `each` runs just before each timer fires. */
  advance: (ms: number, each?: (nowMs: number) => void) => void;
  /** Timers not fired or cleared yet. */
  pending: () => number;
}

export function fakeClock(startMs = 1_000_000): FakeClock {
  let nowMs = startMs;
  const timers = new Set<Timer>();
  const waits: number[] = [];
  const add = (fn: () => void, ms: number, every?: number): Timer => {
    const h: Timer = { fn, at: nowMs + ms, ...(every !== undefined ? { every } : {}) };
    timers.add(h);
    return h;
  };
  const clear = (h: unknown) => void timers.delete(h as Timer);
  return {
    now: () => nowMs,
    setTimer: (fn, ms) => add(fn, ms),
    clearTimer: clear,
    setInterval: (fn, every) => add(fn, every, every),
    clearInterval: clear,
    sleep: (ms) => {
      waits.push(ms);
      nowMs += ms;
      return Promise.resolve();
    },
    waits,
    advance: (ms, each) => {
      const end = nowMs + ms;
      for (;;) {
        const due = [...timers].filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        nowMs = Math.max(nowMs, due.at);
        each?.(nowMs);
        if (due.every !== undefined) due.at += due.every;
        else timers.delete(due);
        due.fn();
      }
      nowMs = end;
    },
    pending: () => timers.size,
  };
}
