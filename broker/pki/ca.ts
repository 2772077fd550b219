// The per-cluster certificate authority. Each cluster gets its own CA so a certificate of cluster A opens
// nothing on cluster B. The key is generated natively; forge lays out the certificate; the signature is native.
import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { SkiffError } from '../api/errors.js';
import {
  certificateToPem,
  keyIdentifier,
  nativePublicKeyToForge,
  randomSerialHex,
  signCertificateNative,
} from '../api/forge-native.js';

const { pki } = forge;
const generateKeyPairAsync = promisify(generateKeyPair);

/** Backdating of notBefore so a machine whose clock runs a little behind still accepts the certificate. */
export const CLOCK_SKEW_MS = 60_000;

export interface CaMaterial {
  certPem: string;
  /** PKCS#8 PEM. Never leaves the broker. */
  keyPem: string;
}

export interface CreateCaOptions {
  clusterId: string;
  validityMs: number;
  now?: () => Date;
  /** Default `skiff cluster <id> CA`; the deployed broker's CA names its workspace instead. */
  commonName?: string;
}

/** A parsed CA, ready to sign many CSRs without re-parsing its certificate or key each time. */
export interface CaSigner {
  readonly certPem: string;
  readonly cert: forge.pki.Certificate;
  readonly key: KeyObject;
  readonly publicKey: KeyObject;
  /** The CA's subjectKeyIdentifier (forge binary string), placed in each leaf's authorityKeyIdentifier. */
  readonly keyId: string;
  /** The CA key in forge's format, converted on first use: only the forge-only benchmark baseline needs it. */
  forgePrivateKey(): forge.pki.rsa.PrivateKey;
}

export function caCommonName(clusterId: string): string {
  return `skiff cluster ${clusterId} CA`;
}

export async function createCa(options: CreateCaOptions): Promise<CaMaterial> {
  const now = options.now ?? (() => new Date());
  if (options.clusterId.length === 0) {
    throw new SkiffError('BRK_BAD_REQUEST', 'cannot create a CA without a cluster id; pass the cluster record id');
  }
  if (!Number.isFinite(options.validityMs) || options.validityMs <= 0) {
    throw new SkiffError('BRK_BAD_REQUEST', `CA validityMs must be a positive number of milliseconds, got ${options.validityMs}`);
  }
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });

  const forgePublic = nativePublicKeyToForge(publicKey);
  const cert = pki.createCertificate();
  cert.publicKey = forgePublic;
  cert.serialNumber = randomSerialHex();
  const t = now().getTime();
  cert.validity.notBefore = wholeSeconds(t - CLOCK_SKEW_MS);
  cert.validity.notAfter = wholeSeconds(t + options.validityMs);
  const name = [{ name: 'commonName', value: options.commonName ?? caCommonName(options.clusterId) }, { name: 'organizationName', value: 'skiff' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  const keyId = keyIdentifier(forgePublic);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier', value: forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, keyId) },
  ]);
  signCertificateNative(cert, privateKey);

  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  return { certPem: certificateToPem(cert), keyPem: typeof keyPem === 'string' ? keyPem : keyPem.toString('utf8') };
}

export function loadCaSigner(material: CaMaterial): CaSigner {
  let cert: forge.pki.Certificate;
  let key: KeyObject;
  try {
    cert = pki.certificateFromPem(material.certPem);
    key = createPrivateKey(material.keyPem);
  } catch (err) {
    throw new SkiffError('BRK_STORE_CORRUPT', 'the cluster CA certificate or key cannot be parsed; the CA must be recreated', { cause: err });
  }
  const publicKey = createPublicKey(key);
  const certKey = cert.publicKey as forge.pki.rsa.PublicKey;
  const derived = nativePublicKeyToForge(publicKey);
  if (derived.n.compareTo(certKey.n) !== 0) {
    throw new SkiffError('BRK_STORE_CORRUPT', 'the cluster CA key does not match its certificate; the CA must be recreated');
  }
  let forgeKey: forge.pki.rsa.PrivateKey | undefined;
  return {
    certPem: material.certPem,
    cert,
    key,
    publicKey,
    keyId: keyIdentifier(certKey),
    forgePrivateKey() {
      forgeKey ??= pki.privateKeyFromPem(material.keyPem);
      return forgeKey;
    },
  };
}

/** X.509 times have whole seconds; truncating here keeps returned dates equal to what the certificate says. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}
