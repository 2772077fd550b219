// Reading an untrusted PKCS#10 request: structure, RSA key size, and its own signature (proof that the
// requester holds the private key). Only the public key is used afterwards; the requester's subject and
// attributes are ignored because the broker decides names.
import { verify } from 'node:crypto';
import forge from 'node-forge';
import { SkiffError } from '../api/errors.js';
import { binaryToBuffer, forgePublicKeyToNative, readTlv } from '../api/forge-native.js';

const { asn1, pki } = forge;

export const MIN_RSA_BITS = 2048;
/** A 4096-bit RSA CSR is ~1.7 KB of PEM; anything far larger is not a CSR. */
const MAX_CSR_PEM_CHARS = 16_384;

const HASH_BY_SIGNATURE_OID: Readonly<Record<string, 'sha256' | 'sha384' | 'sha512'>> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

export interface ParsedCsr {
  csr: forge.pki.CertificateSigningRequest;
  publicKey: forge.pki.rsa.PublicKey;
}

function badCsr(what: string, cause?: unknown): SkiffError {
  return new SkiffError('BRK_BAD_CSR', `${what}; send a PEM PKCS#10 request for an RSA key of at least ${MIN_RSA_BITS} bits, signed with that key (sha256WithRSAEncryption)`, cause === undefined ? {} : { cause });
}

/** Parses and checks a CSR. `verifyWith` picks native crypto (the broker) or forge's JS RSA (benchmark baseline). */
export function parseAndVerifyCsr(csrPem: string, verifyWith: 'native' | 'forge'): ParsedCsr {
  if (typeof csrPem !== 'string' || csrPem.length === 0) throw badCsr('the certificate request is empty');
  if (csrPem.length > MAX_CSR_PEM_CHARS) throw badCsr(`the certificate request is ${csrPem.length} characters, more than the ${MAX_CSR_PEM_CHARS} allowed`);

  let der: Buffer;
  let csr: forge.pki.CertificateSigningRequest;
  try {
    const blocks = forge.pem.decode(csrPem);
    const block = blocks[0];
    if (blocks.length !== 1 || block === undefined || (block.type !== 'CERTIFICATE REQUEST' && block.type !== 'NEW CERTIFICATE REQUEST')) {
      throw new Error('expected exactly one CERTIFICATE REQUEST PEM block');
    }
    der = binaryToBuffer(block.body);
    csr = pki.certificationRequestFromAsn1(asn1.fromDer(block.body, true), verifyWith === 'forge');
  } catch (err) {
    throw badCsr('the certificate request is not a well-formed PKCS#10 request with an RSA key', err);
  }

  const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (publicKey === null) throw badCsr('the certificate request carries no public key');
  const bits = publicKey.n.bitLength();
  if (bits < MIN_RSA_BITS) throw badCsr(`the certificate request's RSA key has ${bits} bits, fewer than ${MIN_RSA_BITS}`);

  const hash = HASH_BY_SIGNATURE_OID[csr.signatureOid ?? ''];
  if (hash === undefined) throw badCsr(`the certificate request is signed with unsupported algorithm ${csr.signatureOid ?? 'unknown'}`);

  let valid: boolean;
  try {
    valid = verifyWith === 'native' ? verifyNative(der, csr, publicKey, hash) : csr.verify();
  } catch (err) {
    throw badCsr('the certificate request signature cannot be checked', err);
  }
  if (!valid) throw badCsr('the certificate request signature does not match its public key');
  return { csr, publicKey };
}

function verifyNative(
  der: Buffer,
  csr: forge.pki.CertificateSigningRequest,
  publicKey: forge.pki.rsa.PublicKey,
  hash: 'sha256' | 'sha384' | 'sha512',
): boolean {
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.totalBytes !== der.length) throw new Error('trailing bytes after the request');
  const info = readTlv(der, outer.headerBytes);
  const infoDer = der.subarray(outer.headerBytes, outer.headerBytes + info.totalBytes);
  const signature = binaryToBuffer(csr.signature as string);
  return verify(hash, infoDer, forgePublicKeyToNative(publicKey), signature);
}
