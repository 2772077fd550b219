// On an EC2 instance: the instance identity document and AWS's signature of it, read from IMDSv2, for the
// broker to verify (EC2 User Guide, "Instance identity documents"). The document is sent exactly as IMDS
// serves it: the signature covers those bytes. `signature` is the base64 RSA (PKCS #1 v1.5, SHA-256) one,
// checked against the region's published RSA certificate.
import { SkiffError } from '../../broker/api/errors.js';
import type { InstanceIdentity } from '../../broker/api/wire.js';

export interface InstanceIdentityOptions {
  /** Default http://169.254.169.254 (IMDS). */
  baseUrl?: string;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** A document is a few hundred bytes; anything far larger is not IMDS. */
const MAX_BYTES = 16 * 1024;

export async function readInstanceIdentity(o: InstanceIdentityOptions = {}): Promise<InstanceIdentity> {
  const base = o.baseUrl ?? 'http://169.254.169.254';
  const f = o.fetch ?? fetch;
  const timeoutMs = o.timeoutMs ?? 5000;
  const call = async (method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<string> => {
    let res: Response;
    let text: string;
    try {
      res = await f(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (cause) {
      throw new SkiffError('AGT_ENROL_FAILED', `instance metadata ${path} unreachable: ${(cause as Error).message}`, { cause, retryable: true });
    }
    if (!res.ok || text.length > MAX_BYTES) {
      throw new SkiffError('AGT_ENROL_FAILED', `instance metadata ${path} answered HTTP ${res.status}${text.length > MAX_BYTES ? ` with ${text.length} bytes` : ''}`, { retryable: res.status >= 500 || res.status === 429 });
    }
    return text;
  };
  const token = await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '300' });
  const auth = { 'X-aws-ec2-metadata-token': token };
  const document = await call('GET', '/latest/dynamic/instance-identity/document', auth);
  const signature = (await call('GET', '/latest/dynamic/instance-identity/signature', auth)).replace(/\s+/g, '');
  return { document, signature };
}
