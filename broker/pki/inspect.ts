// What a certificate says, read with Node's native X509Certificate (for the CLI, tests and the broker's checks).
import { X509Certificate } from 'node:crypto';
import { SkiffError } from '../api/errors.js';

export interface CertificateInfo {
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  /** Extended key usages by name ('serverAuth', 'clientAuth', ...; unknown ones as their OID). */
  ekus: string[];
  sans: { ips: string[]; dns: string[] };
  issuerCn: string | undefined;
  subjectCn: string | undefined;
  /** True when `now` (default: the real clock) is past notAfter or before notBefore. */
  expired: boolean;
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
};

export function inspectCertificate(certPem: string, now: () => Date = () => new Date()): CertificateInfo {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new SkiffError('BRK_BAD_REQUEST', 'the certificate is not a readable PEM X.509 certificate', { cause: err });
  }
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  const t = now().getTime();
  return {
    serialHex: x509.serialNumber.toLowerCase(),
    notBefore,
    notAfter,
    ekus: (x509.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    sans: parseSubjectAltName(x509.subjectAltName),
    issuerCn: commonName(x509.issuer),
    subjectCn: commonName(x509.subject),
    expired: t > notAfter.getTime() || t < notBefore.getTime(),
  };
}

function commonName(dn: string): string | undefined {
  for (const line of dn.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return undefined;
}

/** Node renders SANs as 'DNS:a.example, IP Address:10.0.0.1'. */
function parseSubjectAltName(text: string | undefined): { ips: string[]; dns: string[] } {
  const sans = { ips: [] as string[], dns: [] as string[] };
  if (text === undefined) return sans;
  for (const part of text.split(', ')) {
    if (part.startsWith('DNS:')) sans.dns.push(part.slice(4));
    else if (part.startsWith('IP Address:')) sans.ips.push(part.slice('IP Address:'.length));
  }
  return sans;
}
