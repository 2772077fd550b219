// What a machine is told at boot: where the broker is and a single-use enrol token. Nothing else secret.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { SkiffError } from '../broker/api/errors.js';
import type { AgentConfig } from '../broker/api/agent-config.js';

export type { AgentConfig };

export function loadAgentConfig(path: string): Readonly<AgentConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new SkiffError('AGT_CONFIG', `cannot read the agent configuration ${path}: ${(cause as Error).message}`, { cause });
  }
  const c = raw as Partial<AgentConfig>;
  const missing = (['brokerUrl', 'enrolToken', 'clusterId', 'machineId', 'role', 'machineDir', 'python', 'listenHost'] as const).filter(
    (k) => typeof c[k] !== 'string' || c[k] === '',
  );
  if (missing.length > 0) throw new SkiffError('AGT_CONFIG', `agent configuration ${path} lacks ${missing.join(', ')}`);
  if (c.role !== 'scheduler' && c.role !== 'worker') throw new SkiffError('AGT_CONFIG', `role must be scheduler or worker, not ${String(c.role)}`);
  if (c.envsDir !== undefined && (typeof c.envsDir !== 'string' || !c.envsDir.startsWith('/'))) throw new SkiffError('AGT_CONFIG', `envsDir must be an absolute path; got ${JSON.stringify(c.envsDir)}`);
  return Object.freeze(c as AgentConfig);
}

/**
 * On a VM the user-data writes /etc/skiff/agent.env (broker URL, enrol token, instance id) and systemd
 * passes it as the environment. The cluster and role are claims of the enrol token; the broker verifies
 * the token, the agent only reads them to know what to run.
 */
export function agentConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<AgentConfig> {
  const need = (k: string): string => {
    const v = env[k];
    if (v === undefined || v === '') throw new SkiffError('AGT_CONFIG', `${k} is not set; the agent needs --config FILE or SKIFF_BROKER_URL, SKIFF_ENROL_TOKEN and SKIFF_MACHINE_ID`);
    return v;
  };
  let enrolToken = env['SKIFF_ENROL_TOKEN'] ?? '';
  let cluster: unknown;
  let role: unknown;
  if (enrolToken === '' && env['SKIFF_CLUSTER_ID'] && env['SKIFF_ROLE']) {
    // Enrolled before: the token was taken out of agent.env (see scrubEnrolToken); the saved enrolment is used.
    cluster = env['SKIFF_CLUSTER_ID'];
    role = env['SKIFF_ROLE'];
    enrolToken = '';
  } else {
    enrolToken = need('SKIFF_ENROL_TOKEN');
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(enrolToken);
    } catch (cause) {
      throw new SkiffError('AGT_CONFIG', 'SKIFF_ENROL_TOKEN is not a token the broker issued', { cause });
    }
    ({ cluster, role } = claims);
  }
  if (typeof cluster !== 'string' || (role !== 'scheduler' && role !== 'worker')) {
    throw new SkiffError('AGT_CONFIG', 'SKIFF_ENROL_TOKEN names no cluster or role');
  }
  return Object.freeze({
    brokerUrl: need('SKIFF_BROKER_URL'),
    enrolToken,
    clusterId: cluster,
    machineId: need('SKIFF_MACHINE_ID'),
    role,
    machineDir: env['SKIFF_AGENT_DIR'] ?? '/var/lib/skiff',
    python: env['SKIFF_PYTHON'] ?? '/usr/bin/python3',
    listenHost: env['SKIFF_LISTEN_HOST'] ?? '0.0.0.0',
    ...(env['SKIFF_ENVS_DIR'] ? { envsDir: env['SKIFF_ENVS_DIR'] } : {}),
    ...(env['SKIFF_BROKER_CA_FILE'] ? { brokerCaFile: env['SKIFF_BROKER_CA_FILE'] } : {}),
  });
}

/**
 * Once a VM has enrolled, its single-use enrol token has no more use, and any process that could read agent.env (or
 * inherit the agent's environment) could try to spend it: so agent.env is rewritten without it (atomically, 0600),
 * naming the cluster and role instead, and the agent drops it from its own environment. A restart then runs on the
 * saved enrolment.
 */
export function scrubEnrolToken(envFile: string, o: { clusterId: string; role: string }, env: NodeJS.ProcessEnv = process.env): void {
  delete env['SKIFF_ENROL_TOKEN'];
  let text: string;
  try {
    text = readFileSync(envFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const kept = text.split('\n').filter((l) => l !== '' && !/^(SKIFF_ENROL_TOKEN|SKIFF_CLUSTER_ID|SKIFF_ROLE)=/.test(l));
  const body = [...kept, `SKIFF_CLUSTER_ID=${o.clusterId}`, `SKIFF_ROLE=${o.role}`].join('\n') + '\n';
  writeFileSync(`${envFile}.tmp`, body, { mode: 0o600 });
  renameSync(`${envFile}.tmp`, envFile);
}

/** How the agent behaves on this kind of machine: read once from the environment, validated, frozen. */
export interface AgentTuning {
  /** aws: a VM (install Dask when missing, power off on a fail-safe stop, report boot failures); local: a process here. */
  backend: 'local' | 'aws';
  /** First restart delay of a crashed Dask process (SKIFF_AGENT_BACKOFF_MS, default 500 ms). */
  initialBackoffMs: number;
  /** Crashes within a minute before the agent gives up on Dask (SKIFF_AGENT_MAX_CRASHES, default 5). */
  maxCrashes: number;
  /** How often telemetry is collected and sent (SKIFF_TELEMETRY_INTERVAL_MS, default 5 s). */
  telemetryIntervalMs: number;
  /** How long enrolment is retried before the agent exits non-zero (SKIFF_ENROL_DEADLINE_MS, default 10 min). */
  enrolDeadlineMs: number;
  /** How often the scheduler's agent reads the broker's scaling state (SKIFF_SCALE_POLL_MS, default 1 s). */
  scalePollMs: number;
  /** How often adaptive scaling reads Dask's target (SKIFF_ADAPT_INTERVAL_MS, default 5 s). */
  adaptIntervalMs: number;
  /** No adaptive scale-down within this long of the last change (SKIFF_ADAPT_COOLDOWN_MS, default 30 s). */
  adaptCoolDownMs: number;
  /** How often an EC2 worker checks IMDS for a spot interruption or rebalance notice (SKIFF_SPOT_POLL_MS, default 5 s). */
  spotPollMs: number;
  /** The machine's boot log, shipped with everything else (SKIFF_BOOT_LOG; on aws default /var/log/skiff-bootstrap.log). */
  bootLog?: string;
  /** agent.env, rewritten without the enrol token once enrolled (SKIFF_AGENT_ENV_FILE; on aws default /etc/skiff/agent.env). */
  agentEnvFile?: string;
  /** The instance metadata service (SKIFF_IMDS_URL, default http://169.254.169.254; tests point it at a stand-in). */
  imdsUrl: string;
}

function intFromEnv(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new SkiffError('AGT_CONFIG', `${key}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}; unset it for the default ${fallback}`);
  }
  return n;
}

export function loadAgentTuning(env: NodeJS.ProcessEnv): Readonly<AgentTuning> {
  const backend = env['SKIFF_BACKEND'] ?? 'local';
  if (backend !== 'local' && backend !== 'aws') {
    throw new SkiffError('AGT_CONFIG', `SKIFF_BACKEND=${JSON.stringify(backend)} must be local or aws`);
  }
  const bootLog = env['SKIFF_BOOT_LOG'] ?? (backend === 'aws' ? '/var/log/skiff-bootstrap.log' : undefined);
  if (bootLog !== undefined && !bootLog.startsWith('/')) {
    throw new SkiffError('AGT_CONFIG', `SKIFF_BOOT_LOG=${JSON.stringify(bootLog)} must be an absolute path`);
  }
  const imdsUrl = (env['SKIFF_IMDS_URL'] || 'http://169.254.169.254').replace(/\/+$/, '');
  if (!/^http:\/\/[^/?#\s]+$/.test(imdsUrl)) {
    throw new SkiffError('AGT_CONFIG', `SKIFF_IMDS_URL=${JSON.stringify(env['SKIFF_IMDS_URL'])} must be http://HOST[:PORT]; unset it for http://169.254.169.254`);
  }
  const agentEnvFile = env['SKIFF_AGENT_ENV_FILE'] ?? (backend === 'aws' ? '/etc/skiff/agent.env' : undefined);
  if (agentEnvFile !== undefined && !agentEnvFile.startsWith('/')) {
    throw new SkiffError('AGT_CONFIG', `SKIFF_AGENT_ENV_FILE=${JSON.stringify(agentEnvFile)} must be an absolute path`);
  }
  return Object.freeze({
    backend,
    imdsUrl,
    ...(agentEnvFile !== undefined ? { agentEnvFile } : {}),
    initialBackoffMs: intFromEnv(env, 'SKIFF_AGENT_BACKOFF_MS', 500, 1, 600_000),
    maxCrashes: intFromEnv(env, 'SKIFF_AGENT_MAX_CRASHES', 5, 0, 1000),
    telemetryIntervalMs: intFromEnv(env, 'SKIFF_TELEMETRY_INTERVAL_MS', 5000, 10, 3_600_000),
    enrolDeadlineMs: intFromEnv(env, 'SKIFF_ENROL_DEADLINE_MS', 600_000, 100, 24 * 3_600_000),
    scalePollMs: intFromEnv(env, 'SKIFF_SCALE_POLL_MS', 1000, 50, 600_000),
    adaptIntervalMs: intFromEnv(env, 'SKIFF_ADAPT_INTERVAL_MS', 5000, 100, 3_600_000),
    adaptCoolDownMs: intFromEnv(env, 'SKIFF_ADAPT_COOLDOWN_MS', 30_000, 0, 24 * 3_600_000),
    spotPollMs: intFromEnv(env, 'SKIFF_SPOT_POLL_MS', 5000, 100, 600_000),
    ...(bootLog !== undefined ? { bootLog } : {}),
  });
}
