// One error type for every part of skiff. A `code` names the failure (prefixed by the part that raises it:
// PRV_ provisioner, BRK_ broker, AGT_ agent, CLI_ command line) so callers can `switch` on it; the message
// says what was wrong and what to do about it. `retryable` marks failures a caller may simply try again.

export const ERROR_CODES = {
  CLI_USAGE: 'CLI_USAGE',
  CLI_BROKER_UNREACHABLE: 'CLI_BROKER_UNREACHABLE',
  CLI_BROKER_UNTRUSTED: 'CLI_BROKER_UNTRUSTED',
  CLI_TIMEOUT: 'CLI_TIMEOUT',
  CLI_NO_AWS_CREDENTIALS: 'CLI_NO_AWS_CREDENTIALS',
  CLI_DATA_ACCESS: 'CLI_DATA_ACCESS',
  CLI_DASHBOARD: 'CLI_DASHBOARD',
  BRK_BAD_REQUEST: 'BRK_BAD_REQUEST',
  BRK_UNAUTHORIZED: 'BRK_UNAUTHORIZED',
  BRK_FORBIDDEN: 'BRK_FORBIDDEN',
  BRK_NOT_FOUND: 'BRK_NOT_FOUND',
  BRK_CONFLICT: 'BRK_CONFLICT',
  BRK_BAD_CSR: 'BRK_BAD_CSR',
  BRK_TOKEN_INVALID: 'BRK_TOKEN_INVALID',
  BRK_ALREADY_ENROLLED: 'BRK_ALREADY_ENROLLED',
  BRK_STORE_CORRUPT: 'BRK_STORE_CORRUPT',
  BRK_STORE_UNAVAILABLE: 'BRK_STORE_UNAVAILABLE',
  BRK_NOT_READY: 'BRK_NOT_READY',
  BRK_CONFIG: 'BRK_CONFIG',
  BRK_INTERNAL: 'BRK_INTERNAL',
  PRV_INVALID_REQUEST: 'PRV_INVALID_REQUEST',
  PRV_UNKNOWN_BACKEND: 'PRV_UNKNOWN_BACKEND',
  PRV_LAUNCH_FAILED: 'PRV_LAUNCH_FAILED',
  PRV_CLOUD_ERROR: 'PRV_CLOUD_ERROR',
  PRV_NOT_ATTESTED: 'PRV_NOT_ATTESTED',
  AGT_CONFIG: 'AGT_CONFIG',
  AGT_ENROL_FAILED: 'AGT_ENROL_FAILED',
  AGT_PROCESS_FAILED: 'AGT_PROCESS_FAILED',
  AGT_GATEWAY: 'AGT_GATEWAY',
  AGT_BROKER_UNREACHABLE: 'AGT_BROKER_UNREACHABLE',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * Every code's HTTP status (what the broker answers when it refuses with it) and whether a caller may simply
 * try again. A complete Record: a new code without a row does not compile, so none silently becomes a 500.
 */
export const ERROR_TABLE: Readonly<Record<ErrorCode, { status: number; retryable: boolean }>> = {
  CLI_USAGE: { status: 400, retryable: false },
  CLI_BROKER_UNREACHABLE: { status: 503, retryable: true },
  /** The broker's certificate is not from the CA the CLI pins (its workspace's published one): nothing was sent. */
  CLI_BROKER_UNTRUSTED: { status: 502, retryable: false },
  CLI_TIMEOUT: { status: 504, retryable: true },
  CLI_NO_AWS_CREDENTIALS: { status: 400, retryable: false },
  CLI_DATA_ACCESS: { status: 502, retryable: true },
  /** `skiff dashboard` cannot reach the gateway, or the gateway is not the cluster's (its certificate is refused). */
  CLI_DASHBOARD: { status: 502, retryable: true },
  BRK_BAD_REQUEST: { status: 400, retryable: false },
  BRK_UNAUTHORIZED: { status: 401, retryable: false },
  BRK_FORBIDDEN: { status: 403, retryable: false },
  BRK_NOT_FOUND: { status: 404, retryable: false },
  BRK_CONFLICT: { status: 409, retryable: false },
  BRK_BAD_CSR: { status: 400, retryable: false },
  BRK_TOKEN_INVALID: { status: 401, retryable: false },
  BRK_ALREADY_ENROLLED: { status: 409, retryable: false },
  BRK_STORE_CORRUPT: { status: 500, retryable: false },
  /** The shared store (DynamoDB) did not answer or refused: retryable when DynamoDB said so (throttling, 5xx, a timeout). */
  BRK_STORE_UNAVAILABLE: { status: 503, retryable: true },
  BRK_NOT_READY: { status: 503, retryable: true },
  BRK_CONFIG: { status: 500, retryable: false },
  BRK_INTERNAL: { status: 500, retryable: false },
  PRV_INVALID_REQUEST: { status: 400, retryable: false },
  PRV_UNKNOWN_BACKEND: { status: 400, retryable: false },
  PRV_LAUNCH_FAILED: { status: 502, retryable: false },
  // Retryable only when the cloud said so (throttling, 5xx): the adapter marks each one.
  PRV_CLOUD_ERROR: { status: 502, retryable: false },
  /** A machine's proof of identity (the signed instance identity document) was missing or did not hold. */
  PRV_NOT_ATTESTED: { status: 403, retryable: false },
  AGT_CONFIG: { status: 500, retryable: false },
  AGT_ENROL_FAILED: { status: 502, retryable: true },
  AGT_PROCESS_FAILED: { status: 500, retryable: false },
  AGT_GATEWAY: { status: 502, retryable: false },
  AGT_BROKER_UNREACHABLE: { status: 502, retryable: true },
};

export class SkiffError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkiffError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_TABLE[code].retryable;
  }
}

export function isSkiffError(err: unknown, code?: ErrorCode): err is SkiffError {
  return err instanceof SkiffError && (code === undefined || err.code === code);
}

/**
 * A value a client sent, fit to repeat in an error message: as JSON (a string quoted, control characters
 * escaped) and cut to `maxChars` (a 16 KiB path or name is not sent back whole, nor written whole into the log).
 */
export function echo(value: unknown, maxChars = 80): string {
  if (typeof value === 'string') return JSON.stringify(value.length > maxChars ? `${value.slice(0, maxChars)}…` : value);
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > maxChars ? `${s.slice(0, maxChars)}…` : s;
}
