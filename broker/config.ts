// The workspace's settings: $SKIFF_HOME/config.json, read once when the broker starts, validated whole and
// frozen. Every field is optional; a cluster's own `skiff up` flags win over these, and these over the
// defaults (Coiled's). Example:
//   { "watchdog": { "idleTimeout": "30m", "noClientTimeout": "5m", "heartbeatTimeout": "20m",
//                   "gpuAlertThreshold": 10, "gpuAlertWindow": "15m" },
//     "webhookUrl": "https://hooks.slack.com/services/..." }
import { existsSync, readFileSync } from 'node:fs';
import { SkiffError } from './api/errors.js';
import type { WatchdogSettings } from './api/wire.js';
import { parseDurationMs } from './api/durations.js';
import { resolveWatchdogConfig } from './watchdog/config.js';

export interface WorkspaceConfig {
  watchdog?: WatchdogSettings;
  webhookUrl?: string;
}

const DURATIONS = { idleTimeout: 'idleTimeoutMs', noClientTimeout: 'noClientTimeoutMs', heartbeatTimeout: 'heartbeatTimeoutMs', gpuAlertWindow: 'gpuAlertWindowMs' } as const;

export function loadWorkspaceConfig(path: string): Readonly<WorkspaceConfig> {
  if (!existsSync(path)) return Object.freeze({});
  const bad = (what: string) => new SkiffError('BRK_CONFIG', `${path}: ${what}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('must hold a JSON object');
  const out: WorkspaceConfig = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'webhookUrl') {
      if (typeof value !== 'string' || !/^https?:\/\/\S+$/.test(value)) throw bad(`webhookUrl must be an http(s) URL, got ${JSON.stringify(value)}`);
      out.webhookUrl = value;
    } else if (key === 'watchdog') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('watchdog must be an object');
      const w: WatchdogSettings = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (k === 'gpuAlertThreshold') {
          if (typeof v !== 'number') throw bad(`watchdog.gpuAlertThreshold must be a number of percent, got ${JSON.stringify(v)}`);
          w.gpuAlertThresholdPct = v;
        } else if (k in DURATIONS) {
          if (typeof v !== 'string') throw bad(`watchdog.${k} must be a duration like "20m", got ${JSON.stringify(v)}`);
          try {
            w[DURATIONS[k as keyof typeof DURATIONS]] = parseDurationMs(v);
          } catch {
            throw bad(`watchdog.${k} must be a duration like "20m", got ${JSON.stringify(v)}`);
          }
        } else {
          throw bad(`unknown watchdog setting "${k}"; valid: ${[...Object.keys(DURATIONS), 'gpuAlertThreshold'].join(', ')}`);
        }
      }
      try {
        resolveWatchdogConfig(w);
      } catch (err) {
        throw bad((err as Error).message);
      }
      out.watchdog = w;
    } else {
      throw bad(`unknown setting "${key}"; valid: watchdog, webhookUrl`);
    }
  }
  return Object.freeze(out);
}
