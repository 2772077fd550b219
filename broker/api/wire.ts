// The messages that cross between the CLI, the broker and the agents. Both sides import this file, so a
// change here is a protocol change: keep fields additive.
import type { MachineSoftware, SoftwareRequest, SoftwareSpec } from './software.js';
import type { DataAccessSettings, DataAccessState } from './data-access.js';

export type Role = 'scheduler' | 'worker';
export type ClusterState = 'pending' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
export type BackendName = 'local' | 'aws';

/** Token audiences: each token is good for exactly one of these. */
export type TokenKind = 'enrol' | 'agent' | 'user' | 'dashboard';

/** Where the scheduler listens. Ports are the ones on the scheduler machine. */
export interface SchedulerEndpoints {
  /** Address other machines of the cluster use, e.g. 127.0.0.1 locally or the private IP on AWS. */
  privateHost: string;
  /** Address the user's client uses (the gateway), e.g. 127.0.0.1 locally or the public IP on AWS. */
  publicHost: string;
  /** Dask's own TLS listener (workers connect here; the gateway passes Dask clients through to it). */
  daskPort: number;
  /** The single public port (443 on a VM; a free port locally). */
  gatewayPort: number;
  /** The scheduler's HTTP server, bound to loopback on the scheduler machine only. */
  httpPort: number;
  /** Worker agents report to the scheduler's agent here (WebSocket over mutual TLS, private network). */
  telemetryPort: number;
}

/** Watchdog thresholds a cluster was created with (any left out take the defaults). */
export interface WatchdogSettings {
  idleTimeoutMs?: number;
  noClientTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  gpuAlertThresholdPct?: number;
  gpuAlertWindowMs?: number;
}

/** Where a cluster's log lines go (and `skiff logs` reads them): group per workspace, stream per machine. */
export type LogTarget =
  | { sink: 'local'; dir: string; group: string }
  | { sink: 'cloudwatch'; region: string; group: string; retentionDays: number };

export interface ClusterView {
  id: string;
  name: string;
  /** Who made it: the principal id (an IAM user's ARN, an assumed role's ARN, or `local`); none on older records (then `local`'s). */
  owner?: string;
  backend: BackendName;
  state: ClusterState;
  reason?: string;
  workers: number;
  workersReady: number;
  /** Machines (scheduler included) that have enrolled: their agent runs and holds a certificate. */
  machinesEnrolled?: number;
  /** The scheduler's agent has enrolled: its gateway (where the client delivers data access) is coming up. */
  schedulerEnrolled?: boolean;
  createdAt: string;
  updatedAt: string;
  /** tls://host:port of the gateway, once known. */
  scheduler?: string;
  /** Last lines the machines logged, kept for a failed cluster. */
  lastLogLines?: string[];
  /**
   * The last boot failure a machine reported (attested, not enrolled yet): the machine's own words, cleaned and
   * bounded (machine-report.ts), shown quoted and never as the cluster's reason.
   */
  bootReport?: BootReport;
  logs?: LogTarget;
  /** When the broker fails the cluster if it is not running yet (ISO time). */
  startDeadline?: string;
  /** Workers the backend could launch (fewer than `workers` when capacity ran short, down to the minimum asked). */
  workersLaunched?: number;
  /** Dask threads per worker when the user chose them (--worker-threads). */
  workerThreads?: number;
  /** The software environment every machine runs (index URLs masked), with each machine's progress. */
  software?: SoftwareSpec;
  /** What the user should know about a running cluster, e.g. a version that differs from the client's. */
  warnings?: string[];
  /** Adaptive scaling's bounds while it is on (`skiff adapt`); `workers` is then what it last asked for. */
  adaptive?: AdaptiveBounds;
  /** Workers Dask is retiring now (their data moves to the others before their machines stop). */
  workersRetiring?: number;
  /** Plain variables every Dask process gets (--env). */
  env?: Record<string, string>;
  /** Whether the client forwards AWS credentials, and the names of its secret variables (never their values). */
  dataAccess?: DataAccessSettings;
  /** What the scheduler's agent last received from the client: identity and expiry, no keys. */
  dataAccessState?: DataAccessState;
}

/** `skiff adapt NAME --minimum A --maximum B`: the scheduler's agent keeps the worker count within these. */
export interface AdaptiveBounds {
  minimum: number;
  maximum: number;
}

/** POST /v1/clusters/:ref/scale. An explicit count turns adaptive scaling off. */
export interface ScaleRequest {
  workers: number;
}

/** POST /v1/clusters/:ref/adapt: bounds, or `{ off: true }`. */
export type AdaptRequest = AdaptiveBounds | { off: true };

/** What the scheduler's agent reads from the broker (GET AGENT_SCALE_PATH) every second or so. */
export interface AgentScaleState {
  /** Workers the cluster should have. */
  workers: number;
  /** When `workers` last changed (ISO): adaptive scale-down waits a cool-down after it. */
  changedAt: string;
  adaptive?: AdaptiveBounds;
  /** Workers to retire through Dask now: `count` lets Dask choose (workers_to_close); `names` are given. */
  retire?: { id: string; count?: number; names?: string[] };
}

export interface CreateClusterRequest {
  name?: string;
  workers: number;
  backend: BackendName;
  /** The workspace: clusters sharing a log group (and, on aws, a network and the boundary of its clusters' agent roles). Default `default`. */
  workspace?: string;
  /** Backend options (aws: region, zone, firewall, spot_policy, ...), validated by the backend's plan. */
  options?: Record<string, unknown>;
  watchdog?: WatchdogSettings;
  /** Where notifications of this cluster are POSTed (Slack-compatible JSON). */
  webhookUrl?: string;
  /** Where its logs go: the local log store (local default) or CloudWatch (always on aws). */
  logs?: 'local' | 'cloudwatch';
  /** Fail the cluster (and stop its machines) if it is not running this long after creation. Default: 15 min on aws, 2 min locally. */
  startTimeoutMs?: number;
  /** Dask threads per worker. Default: the worker's vCPUs (aws), a share of this computer's CPUs (local). */
  workerThreads?: number;
  /** The client's environment and the user's packages (absent: the machine's own Dask, as before). */
  software?: SoftwareRequest;
  /** Plain variables for every Dask process (kept in the record, shown by status). */
  env?: Record<string, string>;
  /** Names of variables whose values the client sends to the machines itself (never to the broker). */
  secretEnv?: string[];
  /** The client forwards its AWS credentials to the machines (default: on for aws, off for local). */
  forwardAwsCredentials?: boolean;
}

export interface EnrolRequest {
  token: string;
  /** The cluster this machine was launched for: an enrol token of another cluster is refused. */
  clusterId: string;
  machineId: string;
  csrPem: string;
  /** On AWS: the instance identity document as IMDS served it, and AWS's signature of it (base64 RSA/SHA-256). */
  identity?: InstanceIdentity;
}

export interface BootReport {
  /** The machine's name and id as the broker knows them (never from the report). */
  machine: string;
  machineId: string;
  /** The boot step that failed (the report's, checked: letters, digits, ` _.:-`, else `unknown`). */
  step: string;
  at: string;
  /** The report's last lines. */
  lines: string[];
}

export interface InstanceIdentity {
  document: string;
  signature: string;
}

export interface EnrolResponse {
  clusterId: string;
  machineId: string;
  role: Role;
  /** Name used for the Dask worker, e.g. worker-1. */
  machineName: string;
  certPem: string;
  caPem: string;
  /** Bearer token for the agent's later calls to the broker. */
  agentToken: string;
  /** Public key (JWK) the agent uses to verify dashboard tokens at the gateway. */
  tokenKey: Record<string, unknown>;
  scheduler: SchedulerEndpoints;
  /** What the machine enforces on its own when the broker is unreachable (the fail-safe). */
  failSafe: { idleTimeoutMs: number; heartbeatTimeoutMs: number };
  logs: LogTarget;
  /** Dask threads for a worker: the vCPUs of its instance type, or the user's --worker-threads. Absent: all CPUs. */
  nthreads?: number;
  /** The environment to build before Dask starts (the index URL in full: it reaches a machine only here). */
  software?: MachineSoftware;
  /** Plain variables for the Dask process. */
  env?: Record<string, string>;
  /** What the client sends the machines itself: Dask waits for it when anything is expected. */
  dataAccess?: DataAccessSettings;
}

export interface NotificationView {
  seq: number;
  at: string;
  clusterId: string;
  clusterName: string;
  /** A state change, an alert, or a change of the worker count (scaled, adapted, a worker lost or interrupted). */
  kind: 'state' | 'alert' | 'scale';
  state?: ClusterState;
  reason?: string;
}

export type AgentEvent =
  | { kind: 'ready'; detail?: string }
  | { kind: 'workers'; count: number }
  | { kind: 'failed'; reason: string; lastLogLines: string[] }
  | { kind: 'log'; lines: string[] }
  /** A machine's software environment: a step ("installing 1 of 7 packages") or its end ("ready: reused"). */
  | { kind: 'software'; detail: string }
  /** The scheduler's agent compared what the scheduler and `workers` workers report with the client's versions. */
  | { kind: 'versions'; workers: number; mismatches: string[]; error?: string }
  /** The scheduler's agent retired these workers through Dask for the broker's retire request `id`. */
  | { kind: 'retired'; id: string; names: string[] }
  /** The scheduler's agent asks for this many workers: Dask's adaptive target, bounded and paced. */
  | { kind: 'adapt'; workers: number; target: number }
  /** A worker's agent saw its cloud's notice (a spot interruption, a rebalance recommendation). */
  | { kind: 'interrupted'; notice: 'spot-interruption' | 'rebalance'; detail: string }
  /** The scheduler's agent received data access from the client (what, whose, until when; never a value). */
  | { kind: 'data-access'; state: DataAccessState };

export interface CredentialsRequest {
  csrPem: string;
}

export interface CredentialsResponse {
  caPem: string;
  certPem: string;
  notAfter: string;
}

export interface DashboardTokenResponse {
  token: string;
  url: string;
  expiresAt: string;
}

export interface ErrorBody {
  error: { code: string; message: string };
}
