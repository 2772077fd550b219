// The broker's HTTP routes, named once: the broker serves them, agents, boot scripts and the CLI call them.

/** Liveness, unauthenticated. */
export const HEALTH_PATH = '/v1/health';
/** An API key for a short-lived user token. */
export const TOKEN_PATH = '/v1/token';
/** A signed sts:GetCallerIdentity (aws-iam brokers) for a short-lived user token. */
export const AUTH_AWS_PATH = '/v1/auth/aws';
/** Access grants of an aws-iam broker (admins only): GET lists, POST grants, DELETE /v1/access/<pattern> revokes. */
export const ACCESS_PATH = '/v1/access';
/** A machine's first call: enrol token (and identity evidence) + CSR → certificates and agent token. */
export const ENROL_PATH = '/v1/enrol';
/** Where a VM's boot script reports the step that failed (text body: the boot log's last lines). */
export const BOOT_FAILED_PATH = '/v1/boot/failed';
/** An enrolled agent's state changes (Dask up, Dask gave up). */
export const AGENT_EVENTS_PATH = '/v1/agent/events';
/** The scheduler agent's telemetry WebSocket. */
export const TELEMETRY_PATH = '/v1/agent/telemetry';
/** The scheduler's agent reads the worker count wanted, adaptive bounds and retire requests here. */
export const AGENT_SCALE_PATH = '/v1/agent/scale';
export const NOTIFICATIONS_PATH = '/v1/notifications';
export const CLUSTERS_PATH = '/v1/clusters';

/** One cluster (by name or id), and what hangs below it. */
export function clusterPath(ref: string, sub?: 'credentials' | 'dashboard-token' | 'scale' | 'adapt'): string {
  return `${CLUSTERS_PATH}/${encodeURIComponent(ref)}${sub !== undefined ? `/${sub}` : ''}`;
}

/** The agent bundle, addressed by its SHA-256 (so a machine can check what it fetched). */
export function bundlePath(sha256: string): string {
  return `/v1/agent/bundle/${sha256}.tgz`;
}
export const BUNDLE_ROUTE = /^\/v1\/agent\/bundle\/([0-9a-f]{64})\.tgz$/;
