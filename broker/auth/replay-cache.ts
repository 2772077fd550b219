// Each signature is accepted once. A signature is good for 5 minutes either side of the broker's clock, so
// one remembered for 10 minutes after its X-Amz-Date can never come back. Bounded: when full of signatures
// still in their window, new logins are refused (retryable) rather than forgetting one, which would let it
// be replayed. Per broker process (two brokers of one workspace each keep their own).
import { SkiffError } from '../api/errors.js';
import { MAX_SIGNATURE_SKEW_MS } from './signed-request.js';

export interface ReplayCache {
  /** Records the signature; false if it was seen before. */
  firstUse(signature: string, signedAtMs: number, nowMs: number): boolean;
  readonly size: number;
}

export function createReplayCache(o: { maxEntries?: number } = {}): ReplayCache {
  const maxEntries = o.maxEntries ?? 10_000;
  /** signature → when it may be forgotten (ms); insertion order is roughly expiry order. */
  const seen = new Map<string, number>();
  const sweep = (nowMs: number): void => {
    for (const [sig, forgetAt] of seen) if (forgetAt <= nowMs) seen.delete(sig);
  };
  return {
    firstUse(signature, signedAtMs, nowMs) {
      if (seen.has(signature)) return false;
      if (seen.size >= maxEntries) sweep(nowMs);
      if (seen.size >= maxEntries) {
        throw new SkiffError('BRK_NOT_READY', `too many logins in the last ${(2 * MAX_SIGNATURE_SKEW_MS) / 60_000} minutes (${maxEntries}); try again shortly`, { retryable: true });
      }
      seen.set(signature, signedAtMs + 2 * MAX_SIGNATURE_SKEW_MS);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}
