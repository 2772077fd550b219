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

// The broker's HTTP bounds. Credentials are checked from the headers before any body is read; then a route
// reads at most its own cap. A request must arrive whole within the request time, its headers sooner; a
// connection past a cap is closed at once, so slow or idle clients cannot pile up memory or sockets.

/** Request body caps per route, in bytes (a CSR is about 1 KiB; a boot report is the log's last lines). */
export const BROKER_BODY_LIMITS = {
  enrol: 64 * 1024,
  bootFailed: 64 * 1024,
  agentEvent: 64 * 1024,
  clusterCreate: 256 * 1024,
  credentials: 256 * 1024,
  /** scale and adapt: a count, or bounds. */
  scale: 4 * 1024,
  /** A signed GetCallerIdentity request (its session token is the largest part, a few KiB). */
  awsAuth: 32 * 1024,
  /** An access grant: a pattern and a flag. */
  access: 4 * 1024,
} as const;
/** Deepest JSON nesting a request body may have (the deepest the broker takes is 4). */
export const MAX_JSON_DEPTH = 32;
/** Time for a request's headers, from the connection's first byte. */
export const BROKER_HEADERS_TIMEOUT_MS = 10_000;
/** Time for a whole request (headers and body); the answer may take longer (a cloud stop takes minutes). */
export const BROKER_REQUEST_TIMEOUT_MS = 15_000;
/** Time for a TLS handshake on an HTTPS broker. */
export const BROKER_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Open connections in all (telemetry WebSockets included: one per cluster). */
export const BROKER_MAX_CONNECTIONS = 4096;
/** Open connections from one address (a private subnet's machines come through one NAT address). */
export const BROKER_MAX_CONNECTIONS_PER_ADDRESS = 512;
/** How many characters of a value a client sent an error message repeats. */
export const ECHO_MAX_CHARS = 80;
