// A create request as it arrives over the API: checked field by field before anything is planned or made.
import { SkiffError, echo } from './api/errors.js';
import type { CreateClusterRequest, WatchdogSettings } from './api/wire.js';
import { CLUSTER_NAME, CLUSTER_NAME_RULE, MAX_START_TIMEOUT_MS, MAX_WORKER_THREADS, MAX_WORKERS, MIN_START_TIMEOUT_MS, WORKSPACE_NAME, WORKSPACE_NAME_RULE } from './api/limits.js';
import { buildSoftwareSpec, type SoftwareSpec } from './api/software.js';
import { resolveWatchdogConfig } from './watchdog/config.js';
import { forwardsAwsByDefault, parseEnv, parseSecretEnvNames } from './api/data-access.js';


/** How long a cluster may take to reach running before the broker fails it, when the request does not say. */
export const DEFAULT_START_TIMEOUT_MS = { aws: 15 * 60_000, local: 2 * 60_000 } as const;

/** A create request once checked: the software request has become its canonical, hashed spec; forwarding is decided. */
export type ParsedCreateRequest = Omit<CreateClusterRequest, 'software' | 'forwardAwsCredentials'> & { software?: SoftwareSpec; forwardAwsCredentials: boolean };

export function parseCreateRequest(req: unknown): ParsedCreateRequest {
  const r = (req ?? {}) as Record<string, unknown>;
  const workers = r['workers'];
  if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) {
    throw new SkiffError('BRK_BAD_REQUEST', `workers must be a whole number from 0 to ${MAX_WORKERS}; got ${echo(workers)}`);
  }
  const backend = r['backend'] ?? 'local';
  if (backend !== 'local' && backend !== 'aws') throw new SkiffError('PRV_UNKNOWN_BACKEND', `unknown backend ${echo(backend)}; choose local or aws`);
  const name = r['name'];
  if (name !== undefined && (typeof name !== 'string' || !CLUSTER_NAME.test(name))) {
    throw new SkiffError('BRK_BAD_REQUEST', `cluster name ${echo(name)} is not valid: use ${CLUSTER_NAME_RULE}`);
  }
  const workspace = r['workspace'];
  if (workspace !== undefined && (typeof workspace !== 'string' || !WORKSPACE_NAME.test(workspace))) {
    throw new SkiffError('BRK_BAD_REQUEST', `workspace ${echo(workspace)} is not valid: use ${WORKSPACE_NAME_RULE}`);
  }
  const options = r['options'];
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new SkiffError('BRK_BAD_REQUEST', 'options must be an object of backend options');
  }
  const watchdog = parseWatchdog(r['watchdog']);
  const webhookUrl = r['webhookUrl'];
  if (webhookUrl !== undefined && (typeof webhookUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(webhookUrl))) {
    throw new SkiffError('BRK_BAD_REQUEST', `webhook URL must be an http(s) URL; got ${echo(webhookUrl)}`);
  }
  const logs = r['logs'];
  if (logs !== undefined && logs !== 'local' && logs !== 'cloudwatch') throw new SkiffError('BRK_BAD_REQUEST', `logs must be local or cloudwatch; got ${echo(logs)}`);
  if (logs === 'local' && backend === 'aws') throw new SkiffError('BRK_BAD_REQUEST', 'an aws cluster ships its logs to CloudWatch; --logs local is for the local backend');
  const startTimeoutMs = r['startTimeoutMs'];
  if (startTimeoutMs !== undefined && (typeof startTimeoutMs !== 'number' || !Number.isInteger(startTimeoutMs) || startTimeoutMs < MIN_START_TIMEOUT_MS || startTimeoutMs > MAX_START_TIMEOUT_MS)) {
    throw new SkiffError('BRK_BAD_REQUEST', `the start timeout must be from 1s to 24h; got ${echo(startTimeoutMs)} ms`);
  }
  const workerThreads = r['workerThreads'];
  if (workerThreads !== undefined && (typeof workerThreads !== 'number' || !Number.isInteger(workerThreads) || workerThreads < 1 || workerThreads > MAX_WORKER_THREADS)) {
    throw new SkiffError('BRK_BAD_REQUEST', `worker threads must be a whole number from 1 to ${MAX_WORKER_THREADS}; got ${echo(workerThreads)}`);
  }
  const software = r['software'] === undefined ? undefined : buildSoftwareSpec(r['software']);
  const env = parseEnv(r['env']);
  const secretEnv = parseSecretEnvNames(r['secretEnv'], env);
  const forward = r['forwardAwsCredentials'];
  if (forward !== undefined && typeof forward !== 'boolean') throw new SkiffError('BRK_BAD_REQUEST', `forwardAwsCredentials must be true or false; got ${echo(forward)}`);
  return {
    ...(env ? { env } : {}), ...(secretEnv.length > 0 ? { secretEnv } : {}), forwardAwsCredentials: forward ?? forwardsAwsByDefault(backend),
    ...(software ? { software } : {}),
    ...(startTimeoutMs !== undefined ? { startTimeoutMs } : {}), ...(workerThreads !== undefined ? { workerThreads } : {}),
    ...(logs !== undefined ? { logs } : {}),
    workers, backend, ...(name !== undefined ? { name } : {}), ...(typeof workspace === 'string' ? { workspace } : {}), ...(options ? { options: options as Record<string, unknown> } : {}),
    ...(watchdog ? { watchdog } : {}), ...(typeof webhookUrl === 'string' ? { webhookUrl } : {}),
  };
}

const WATCHDOG_KEYS = ['idleTimeoutMs', 'noClientTimeoutMs', 'heartbeatTimeoutMs', 'gpuAlertThresholdPct', 'gpuAlertWindowMs'] as const;

function parseWatchdog(raw: unknown): WatchdogSettings | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SkiffError('BRK_BAD_REQUEST', 'watchdog must be an object of settings');
  const out: WatchdogSettings = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(WATCHDOG_KEYS as readonly string[]).includes(k)) throw new SkiffError('BRK_BAD_REQUEST', `unknown watchdog setting ${echo(k)}; valid: ${WATCHDOG_KEYS.join(', ')}`);
    (out as Record<string, unknown>)[k] = v;
  }
  resolveWatchdogConfig(out); // throws BRK_BAD_REQUEST naming the bad value
  return out;
}

/** Kept here for the broker's callers; the rule lives in the contract (broker/api/endpoints.ts). */
export { isLoopbackUrl } from './api/endpoints.js';
