// On an EC2 instance: the instance identity document and AWS's signature of it, read from IMDSv2, for the
// broker to verify (EC2 User Guide, "Instance identity documents"). The document is sent exactly as IMDS
// serves it: the signature covers those bytes. `signature` is the base64 RSA (PKCS #1 v1.5, SHA-256) one,
// checked against the region's published RSA certificate.
import { createImdsClient } from '../../broker/api/imds.js';
import type { InstanceIdentity } from '../../broker/api/wire.js';

export interface InstanceIdentityOptions {
  /** Default http://169.254.169.254 (IMDS). */
  baseUrl?: string;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export async function readInstanceIdentity(o: InstanceIdentityOptions = {}): Promise<InstanceIdentity> {
  const imds = createImdsClient({ ...o, code: 'AGT_ENROL_FAILED' });
  const document = (await imds.get('/latest/dynamic/instance-identity/document')) ?? '';
  const signature = ((await imds.get('/latest/dynamic/instance-identity/signature')) ?? '').replace(/\s+/g, '');
  return { document, signature };
}
