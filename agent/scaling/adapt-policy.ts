// What adaptive scaling asks for, from Dask's own target (Scheduler.adaptive_target). Pure.
//
//   target ──clamp to [minimum, maximum]──► up: at once
//                                          down: not within coolDownMs of the last change, and at most 25 % of
//                                                the workers per step (at least one), so a short lull does not
//                                                throw away workers (and their data) a busy moment needs again
import type { AdaptiveBounds } from '../../broker/api/wire.js';

export interface AdaptInput {
  /** Dask's adaptive target. */
  target: number;
  /** Workers the cluster has been asked for now. */
  current: number;
  bounds: AdaptiveBounds;
  /** ms since the requested count last changed. */
  sinceChangeMs: number;
  coolDownMs: number;
  /** Default 0.25. */
  maxDownFraction?: number;
}

export function adaptWorkers(i: AdaptInput): number {
  const wanted = Math.min(i.bounds.maximum, Math.max(i.bounds.minimum, Math.ceil(Number.isFinite(i.target) ? i.target : i.current)));
  if (wanted >= i.current) return wanted;
  // Outside the bounds (they were just changed): back inside at once.
  if (i.current > i.bounds.maximum) return i.bounds.maximum;
  if (i.sinceChangeMs < i.coolDownMs) return i.current;
  const step = Math.max(1, Math.floor(i.current * (i.maxDownFraction ?? 0.25)));
  return Math.max(wanted, i.current - step);
}
