// Durations as users type and read them: "10s", "2m", "20m", "1h", "1h30m", "500ms". Used by the CLI flags
// (--idle-timeout 10s) and in every stop reason ("idle for 10s"), so both read the same way.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/**
 * "1h30m" → 5_400_000. A bare number is refused: the unit must be explicit. Throws a RangeError: the caller
 * knows whether a bad duration is a usage error (a flag) or a bad setting (the workspace config).
 */
export function parseDurationMs(text: string): number {
  const t = text.trim();
  if (!WHOLE.test(t)) {
    throw new RangeError(`"${text}" is not a duration; write a number with a unit, e.g. 30s, 10m, 1h or 1h30m`);
  }
  let ms = 0;
  for (const m of t.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return Math.round(ms);
}

/** 10_000 → "10s", 1_200_000 → "20m", 5_400_000 → "1h30m", 1500 → "1.5s", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const totalS = Math.round(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`;
}
