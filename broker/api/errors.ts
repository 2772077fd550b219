// One error type for every part of skiff. A `code` names the failure (prefixed by the part that raises it:
// PRV_ provisioner, BRK_ broker, AGT_ agent, CLI_ command line) so callers can `switch` on it; the message
// says what was wrong and what to do about it. `retryable` marks failures a caller may simply try again.

export const ERROR_CODES = {
  CLI_USAGE: 'CLI_USAGE',
  CLI_BROKER_UNREACHABLE: 'CLI_BROKER_UNREACHABLE',
  CLI_TIMEOUT: 'CLI_TIMEOUT',
  BRK_BAD_REQUEST: 'BRK_BAD_REQUEST',
  BRK_UNAUTHORIZED: 'BRK_UNAUTHORIZED',
  BRK_FORBIDDEN: 'BRK_FORBIDDEN',
  BRK_NOT_FOUND: 'BRK_NOT_FOUND',
  BRK_CONFLICT: 'BRK_CONFLICT',
  BRK_BAD_CSR: 'BRK_BAD_CSR',
  BRK_TOKEN_INVALID: 'BRK_TOKEN_INVALID',
  BRK_ALREADY_ENROLLED: 'BRK_ALREADY_ENROLLED',
  BRK_STORE_CORRUPT: 'BRK_STORE_CORRUPT',
  BRK_NOT_READY: 'BRK_NOT_READY',
  BRK_CONFIG: 'BRK_CONFIG',
  PRV_INVALID_REQUEST: 'PRV_INVALID_REQUEST',
  PRV_UNKNOWN_BACKEND: 'PRV_UNKNOWN_BACKEND',
  PRV_LAUNCH_FAILED: 'PRV_LAUNCH_FAILED',
  PRV_CLOUD_ERROR: 'PRV_CLOUD_ERROR',
  AGT_CONFIG: 'AGT_CONFIG',
  AGT_ENROL_FAILED: 'AGT_ENROL_FAILED',
  AGT_PROCESS_FAILED: 'AGT_PROCESS_FAILED',
  AGT_GATEWAY: 'AGT_GATEWAY',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class SkiffError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkiffError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isSkiffError(err: unknown, code?: ErrorCode): err is SkiffError {
  return err instanceof SkiffError && (code === undefined || err.code === code);
}
