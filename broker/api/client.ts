// Calls to the broker's HTTP API, shared by the agent and the CLI: JSON over HTTP(S), every call with a
// timeout. A refusal comes back as a SkiffError carrying the broker's own code and message; a broker that
// cannot be reached (or answers 5xx/429 without a code) gives a retryable error with the caller's code. A
// code this side does not know (a newer broker) is kept as the broker sent it, in `brokerCode` and in the message.
import { ERROR_CODES, SkiffError, type ErrorCode } from './errors.js';
import type { ErrorBody } from './wire.js';
import { cleartextRefusal } from './endpoints.js';

export interface BrokerCallOptions {
  token?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Code for "could not reach the broker": the caller's part says it (AGT_BROKER_UNREACHABLE, CLI_BROKER_UNREACHABLE). */
  code: ErrorCode;
}

const KNOWN = new Set<string>(Object.values(ERROR_CODES));

export class BrokerRefusal extends SkiffError {
  readonly status: number;
  /** The code as the broker sent it (equal to `code` unless this side does not know it). */
  readonly brokerCode: string | undefined;
  constructor(code: ErrorCode, message: string, status: number, brokerCode?: string) {
    super(code, message, { retryable: status >= 500 || status === 429 });
    this.status = status;
    this.brokerCode = brokerCode;
  }
}

export async function callBroker<T>(baseUrl: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, opts: BrokerCallOptions): Promise<T> {
  const f = opts.fetch ?? fetch;
  const unreachable = opts.code;
  // Nothing goes out in clear off loopback: a bearer token (API key, user or agent token) would be readable on the way.
  const clear = cleartextRefusal(baseUrl);
  if (clear !== undefined) throw new SkiffError('BRK_CONFIG', `not calling the broker: ${clear}`);
  let res: Response;
  let text: string;
  try {
    res = await f(new URL(path, baseUrl), {
      method,
      headers: {
        'content-type': 'application/json',
        ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
    });
    text = await res.text();
  } catch (cause) {
    // A transport that knows what went wrong (a pinned connection refusing the broker's certificate) says so itself.
    if (cause instanceof SkiffError) throw cause;
    throw new SkiffError(unreachable, `broker ${baseUrl} unreachable: ${(cause as Error).message}`, { cause, retryable: true });
  }
  if (!res.ok) {
    let message = text.slice(0, 500);
    let code: ErrorCode = res.status >= 500 ? unreachable : 'BRK_BAD_REQUEST';
    let brokerCode: string | undefined;
    try {
      const e = (JSON.parse(text) as ErrorBody).error;
      message = e.message;
      brokerCode = e.code;
      if (KNOWN.has(e.code)) code = e.code as ErrorCode;
      else message = `${message} (broker error ${e.code}, HTTP ${res.status})`;
    } catch {
      // not JSON: keep the text
    }
    throw new BrokerRefusal(code, message, res.status, brokerCode);
  }
  return (text === '' ? undefined : JSON.parse(text)) as T;
}
