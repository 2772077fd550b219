// Glue between node-forge (which builds the ASN.1 of certificates and CSRs) and Node's native crypto (which
// does the RSA maths). forge's pure-JS RSA private-key operation costs ~25 ms; OpenSSL's is ~0.3 ms, so the
// broker lets forge lay out the to-be-signed bytes and signs them natively.
import { createHash, createPublicKey, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';

const { asn1, pki } = forge;

/** forge functions its type definitions leave out. */
export const forgeInternals = pki as typeof pki & {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
};

/** forge keeps DER as "binary strings" (one char per byte). */
export function binaryToBuffer(bytes: string): Buffer {
  return Buffer.from(bytes, 'binary');
}

export function bufferToBinary(buf: Buffer): string {
  return buf.toString('binary');
}

/** Signs a forge certificate's TBSCertificate with a native RSA key (sha256WithRSAEncryption). */
export function signCertificateNative(cert: forge.pki.Certificate, key: KeyObject): void {
  const oid = pki.oids['sha256WithRSAEncryption'];
  if (oid === undefined) throw new Error('node-forge lacks the sha256WithRSAEncryption OID');
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  const tbs = forgeInternals.getTBSCertificate(cert);
  // certificateToAsn1 reuses the cached TBS, so the bytes signed are exactly the bytes emitted.
  (cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  const signature = sign('sha256', binaryToBuffer(asn1.toDer(tbs).getBytes()), key);
  cert.signature = bufferToBinary(signature);
}

/** A native public KeyObject for a forge RSA public key. */
export function forgePublicKeyToNative(key: forge.pki.rsa.PublicKey): KeyObject {
  return createPublicKey({
    key: { kty: 'RSA', n: bigIntegerToBase64Url(key.n), e: bigIntegerToBase64Url(key.e) },
    format: 'jwk',
  });
}

/** The native public key as a forge key (forge needs its own format to place it in a certificate). */
export function nativePublicKeyToForge(key: KeyObject): forge.pki.rsa.PublicKey {
  const pem = key.export({ type: 'spki', format: 'pem' });
  return pki.publicKeyFromPem(typeof pem === 'string' ? pem : pem.toString('utf8'));
}

/**
 * Key identifier per RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents (the
 * RSAPublicKey DER), the same value forge and OpenSSL compute. Returned as a forge binary string.
 */
export function keyIdentifier(key: forge.pki.rsa.PublicKey): string {
  const rsaPublicKey = pki.publicKeyToRSAPublicKey(key) as forge.asn1.Asn1;
  const rsaPublicKeyDer = asn1.toDer(rsaPublicKey).getBytes();
  return bufferToBinary(createHash('sha1').update(binaryToBuffer(rsaPublicKeyDer)).digest());
}

function bigIntegerToBase64Url(n: forge.jsbn.BigInteger): string {
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
}

/**
 * Splits one DER TLV at the start of `der` into its header length and total length. Enough of DER to slice
 * the CertificationRequestInfo out of a CSR byte for byte (re-encoding a parsed structure could change the
 * bytes and break the signature check).
 */
export function readTlv(der: Buffer, offset: number): { tag: number; headerBytes: number; totalBytes: number } {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error('DER truncated');
  let length = first;
  let headerBytes = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new Error('DER length form not supported');
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = der[offset + 2 + i];
      if (b === undefined) throw new Error('DER truncated');
      length = length * 256 + b;
    }
    headerBytes += count;
  }
  const totalBytes = headerBytes + length;
  if (offset + totalBytes > der.length) throw new Error('DER truncated');
  return { tag, headerBytes, totalBytes };
}

export function certificateToPem(cert: forge.pki.Certificate): string {
  return pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** A random positive 128-bit serial as lowercase hex (top bit clear, first byte non-zero: minimal DER). */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) || 0x01;
  return bytes.toString('hex');
}
