// Signing agents' and users' certificate requests with a cluster CA.
//
//   CSR PEM ──parse+verify (native)──▶ public key ──forge builds TBSCertificate──▶ DER ──crypto.sign──▶ PEM
//
// Names (CN, SANs) come from the broker's arguments, never from the CSR: a requester proves only that it
// holds a key. signCsrForgeOnly does the same with forge's JS RSA and exists as the benchmark baseline.
import { isIP } from 'node:net';
import forge from 'node-forge';
import { SkiffError } from '../api/errors.js';
import { CLOCK_SKEW_MS, wholeSeconds } from './ca.js';
import type { CaSigner } from './ca.js';
import { parseAndVerifyCsr } from './csr-parse.js';
import { certificateToPem, keyIdentifier, randomSerialHex, signCertificateNative } from '../api/forge-native.js';

export { inspectCertificate } from './inspect.js';
export type { CertificateInfo } from './inspect.js';

const { asn1, pki } = forge;

/** node: Dask scheduler/worker (TLS server and client); user: the data scientist's Dask client. */
export type CertProfile = 'node' | 'user';

export type CertHolderRole = 'scheduler' | 'worker' | 'user';
const HOLDER_ROLES: readonly CertHolderRole[] = ['scheduler', 'worker', 'user'];
const CLUSTER_ID_RE = /^[a-z0-9-]{1,63}$/;

export interface SignCsrRequest {
  csrPem: string;
  profile: CertProfile;
  commonName: string;
  /**
   * Who holds it, in the subject: O = the cluster id, OU = the role. The scheduler's worker admission
   * (agent/supervisor/admission-plugin.ts) admits as workers only OU=worker of its own cluster.
   */
  holder?: { cluster: string; role: CertHolderRole };
  sans: { ips: string[]; dns: string[] };
  validityMs: number;
  /** Default: now - 60 s, so a machine whose clock is slightly behind accepts the certificate. */
  notBefore?: Date;
  /** Default: random 128-bit positive serial. */
  serialHex?: string;
  now?: () => Date;
}

export interface SignedCertificate {
  certPem: string;
  serialHex: string;
  notAfter: Date;
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const SERIAL_HEX = /^(0[1-9a-f]|[1-7][0-9a-f])([0-9a-f]{2}){0,19}$/;

export function signCsr(signer: CaSigner, request: SignCsrRequest): SignedCertificate {
  const { publicKey } = parseAndVerifyCsr(request.csrPem, 'native');
  const built = buildLeaf(signer, publicKey, request);
  signCertificateNative(built.cert, signer.key);
  return { certPem: certificateToPem(built.cert), serialHex: built.serialHex, notAfter: built.notAfter };
}

/** Same certificate as signCsr, but CSR check and signature in forge's pure-JS RSA: the benchmark baseline. */
export function signCsrForgeOnly(signer: CaSigner, request: SignCsrRequest): SignedCertificate {
  const { publicKey } = parseAndVerifyCsr(request.csrPem, 'forge');
  const built = buildLeaf(signer, publicKey, request);
  built.cert.sign(signer.forgePrivateKey(), forge.md.sha256.create());
  return { certPem: certificateToPem(built.cert), serialHex: built.serialHex, notAfter: built.notAfter };
}

function buildLeaf(
  signer: CaSigner,
  publicKey: forge.pki.rsa.PublicKey,
  request: SignCsrRequest,
): { cert: forge.pki.Certificate; serialHex: string; notAfter: Date } {
  checkRequest(request);
  const now = (request.now ?? (() => new Date()))().getTime();
  const notBefore = wholeSeconds(request.notBefore?.getTime() ?? now - CLOCK_SKEW_MS);
  // An explicit notBefore anchors the whole window; otherwise validity counts from now (the skew is extra).
  const notAfter = wholeSeconds((request.notBefore?.getTime() ?? now) + request.validityMs);
  const serialHex = request.serialHex?.toLowerCase() ?? randomSerialHex();

  const cert = pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialHex;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([
    ...(request.holder ? [{ name: 'organizationName', value: request.holder.cluster }, { name: 'organizationalUnitName', value: request.holder.role }] : []),
    { name: 'commonName', value: request.commonName },
  ]);
  cert.setIssuer(signer.cert.subject.attributes);

  const altNames = [
    ...request.sans.dns.map((value) => ({ type: 2 as const, value })),
    ...request.sans.ips.map((ip) => ({ type: 7 as const, ip })),
  ];
  const extensions: object[] = [
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    request.profile === 'node'
      ? { name: 'extKeyUsage', serverAuth: true, clientAuth: true }
      : { name: 'extKeyUsage', clientAuth: true },
    // Given as values so forge does not hash the key again in JS.
    { name: 'subjectKeyIdentifier', value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, keyIdentifier(publicKey)) },
    { name: 'authorityKeyIdentifier', keyIdentifier: signer.keyId },
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  cert.setExtensions(extensions);
  return { cert, serialHex, notAfter };
}

function checkRequest(request: SignCsrRequest): void {
  const bad = (what: string): SkiffError => new SkiffError('BRK_BAD_REQUEST', what);
  if (request.profile !== 'node' && request.profile !== 'user') {
    throw bad(`certificate profile must be 'node' or 'user', got '${String(request.profile)}'`);
  }
  if (request.holder && (!HOLDER_ROLES.includes(request.holder.role) || !CLUSTER_ID_RE.test(request.holder.cluster))) {
    throw bad(`certificate holder must be a cluster id and one of ${HOLDER_ROLES.join(', ')}, got ${JSON.stringify(request.holder).slice(0, 100)}`);
  }
  if (request.holder && request.profile !== (request.holder.role === 'user' ? 'user' : 'node')) {
    throw bad(`a ${request.holder.role} certificate takes the ${request.holder.role === 'user' ? 'user' : 'node'} profile, not '${request.profile}'`);
  }
  if (request.commonName.length === 0 || request.commonName.length > 64) {
    throw bad(`certificate common name must be 1 to 64 characters, got ${request.commonName.length}`);
  }
  if (!Number.isFinite(request.validityMs) || request.validityMs <= 0) {
    throw bad(`certificate validityMs must be a positive number of milliseconds, got ${request.validityMs}`);
  }
  for (const ip of request.sans.ips) {
    if (isIP(ip) === 0) throw bad(`SAN '${ip}' is not an IPv4 or IPv6 address; put host names in sans.dns`);
  }
  for (const name of request.sans.dns) {
    if (name.length > 253 || !DNS_NAME.test(name)) throw bad(`SAN '${name}' is not a valid DNS name`);
  }
  if (request.serialHex !== undefined && !SERIAL_HEX.test(request.serialHex.toLowerCase())) {
    throw bad('serialHex must be 1 to 20 bytes of lowercase hex, positive and minimally encoded (first byte 01-7f)');
  }
}
