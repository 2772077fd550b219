// The machine's copy of the client's data access (AWS credentials, secret variables): in this process's memory
// only, never on disk, never logged. The scheduler's agent fills it from the gateway, a worker's agent from the
// scheduler's telemetry channel; Dask waits for the first one when the cluster expects it.
import type { DataPayload } from '../../broker/api/data-access.js';

export interface DataAccessHolder {
  current(): DataPayload | undefined;
  /** Replaces the credentials; the secret variables of the first payload stay (Dask's environment is set at start). */
  set(p: DataPayload): void;
  /** Resolves with the first payload (at once when one is here). */
  first(): Promise<DataPayload>;
  onChange(fn: (p: DataPayload) => void): void;
}

export function createDataAccessHolder(): DataAccessHolder {
  let cur: DataPayload | undefined;
  const waiting: Array<(p: DataPayload) => void> = [];
  const listeners: Array<(p: DataPayload) => void> = [];
  return {
    current: () => cur,
    set(p) {
      cur = cur ? { ...p, secretEnv: { ...p.secretEnv, ...cur.secretEnv } } : p;
      const now = cur;
      for (const w of waiting.splice(0)) w(now);
      for (const l of listeners) l(now);
    },
    first: () => (cur ? Promise.resolve(cur) : new Promise((resolve) => waiting.push(resolve))),
    onChange: (fn) => listeners.push(fn),
  };
}
