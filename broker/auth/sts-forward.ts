// Sends a checked identity request to the broker's own STS endpoint, byte for byte as the client signed it,
// and reads GetCallerIdentity's answer. Bounded: a timeout on the call and a cap on the answer's size.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SkiffError, echo } from '../api/errors.js';

export interface StsAnswer {
  status: number;
  body: string;
}

/** The port the broker sends with: replaceable in tests (a fake STS). */
export type StsSender = (url: URL, headers: Record<string, string>, body: string, timeoutMs: number) => Promise<StsAnswer>;

const MAX_ANSWER_BYTES = 64 * 1024;

export const sendToSts: StsSender = (url, headers, body, timeoutMs) =>
  new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > MAX_ANSWER_BYTES) req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new SkiffError('BRK_NOT_READY', `STS at ${url.origin} could not be asked who is calling: ${err.message}`, { cause: err, retryable: true })));
    req.end(body);
  });

export interface CallerIdentity {
  arn: string;
  account: string;
  userId: string;
}

const tag = (xml: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1]?.trim();

/** GetCallerIdentity's XML answer; an STS error (bad signature, expired token, ...) is the caller's 401 with STS's words. */
export function parseCallerIdentity(a: StsAnswer): CallerIdentity {
  if (a.status !== 200) {
    const code = tag(a.body, 'Code');
    const message = tag(a.body, 'Message');
    if (a.status >= 500 || a.status === 429 || code === undefined) {
      throw new SkiffError('BRK_NOT_READY', `STS answered HTTP ${a.status}${code ? ` ${code}` : ''} to the identity request; try again`, { retryable: true });
    }
    throw new SkiffError('BRK_UNAUTHORIZED', `STS refused the signed identity request: ${code}${message ? `: ${echo(message, 300)}` : ''}`);
  }
  const arn = tag(a.body, 'Arn');
  const account = tag(a.body, 'Account');
  const userId = tag(a.body, 'UserId') ?? '';
  if (!/<GetCallerIdentityResult>/.test(a.body) || arn === undefined || account === undefined) {
    throw new SkiffError('BRK_NOT_READY', 'STS answered 200 without a GetCallerIdentityResult (Arn, Account)', { retryable: true });
  }
  return { arn, account, userId };
}
