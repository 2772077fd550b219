// The bounds of a cluster request, named once. The broker enforces them (cluster-request.ts); the CLI
// checks the same ones before it starts a broker, so a typo is answered at once; a backend checks only
// its own (the local backend's worker count, the cloud's quotas).

/** A cluster's name: a DNS label, so it can name machines, log streams and files. */
export const CLUSTER_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const CLUSTER_NAME_RULE = 'lower-case letters, digits and -, starting with a letter (at most 63)';

/** A workspace: the clusters that share one network, log group and agent role per region. */
export const WORKSPACE_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
export const WORKSPACE_NAME_RULE = '1 to 31 lower-case letters, digits or dashes, not starting with a dash';
export const DEFAULT_WORKSPACE = 'default';

export const MAX_WORKERS = 1000;
export const MAX_WORKER_THREADS = 1024;
export const MIN_START_TIMEOUT_MS = 1000;
export const MAX_START_TIMEOUT_MS = 24 * 3600_000;
