// The deployed broker's own TLS certificate, issued at each boot from the workspace's broker CA for the addresses
// it is reached at (the Elastic IP, the private IP, the published URL's host). The key is made here and kept in
// memory only: it is never written anywhere.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createKeyAndCsr } from '../api/csr.js';
import { SkiffError } from '../api/errors.js';
import { loadCaSigner } from '../pki/ca.js';
import { signCsr } from '../pki/sign.js';
import type { BrokerCaSecret } from '../api/deployed-broker.js';

/** A year, well inside the CA's life; a broker re-issues it at each boot (an upgrade or replacement). */
export const SERVER_CERT_VALIDITY_MS = 365 * 24 * 3600_000;

export interface ServerCertificate {
  certPem: string;
  /** PKCS#8 PEM, in memory only. */
  keyPem: string;
  notAfter: Date;
}

export async function issueServerCertificate(o: { ca: BrokerCaSecret; hosts: readonly string[]; now?: () => Date; validityMs?: number }): Promise<ServerCertificate> {
  const signer = loadCaSigner(o.ca);
  const hosts = [...new Set(o.hosts)];
  if (hosts.length === 0) throw new SkiffError('BRK_CONFIG', 'the broker knows none of its addresses (instance metadata and the published URL gave none)');
  const caNotAfter = new X509Certificate(o.ca.certPem).validTo;
  const now = (o.now ?? (() => new Date()))();
  const validityMs = Math.min(o.validityMs ?? SERVER_CERT_VALIDITY_MS, Date.parse(caNotAfter) - now.getTime());
  if (validityMs <= 0) throw new SkiffError('BRK_CONFIG', `the broker CA expired on ${caNotAfter}; \`skiff setup aws\` must make a new one`);
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'skiff broker' });
  const cert = signCsr(signer, {
    csrPem, profile: 'node', commonName: 'skiff broker', validityMs, now: () => now,
    sans: { ips: hosts.filter((h) => isIP(h) !== 0), dns: hosts.filter((h) => isIP(h) === 0) },
  });
  return { certPem: cert.certPem, keyPem, notAfter: cert.notAfter };
}
