// Key pair and certificate request for a machine or a user (agents and the CLI import this; it holds no
// broker state). The private key is generated natively and never leaves the caller: only the CSR, which
// carries the public key and a signature proving possession, is sent to the broker.
import { generateKeyPair, sign } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { binaryToBuffer, bufferToBinary, forgeInternals, nativePublicKeyToForge } from './forge-native.js';

const { asn1, pki } = forge;
const generateKeyPairAsync = promisify(generateKeyPair);

export interface KeyAndCsr {
  /** PKCS#8 PEM: write it with mode 0600 and never send it anywhere. */
  keyPem: string;
  csrPem: string;
}

export async function createKeyAndCsr(options: { commonName: string }): Promise<KeyAndCsr> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const csr = pki.createCertificationRequest();
  csr.publicKey = nativePublicKeyToForge(publicKey);
  // The broker ignores this subject and sets its own; it only helps a person reading the request.
  csr.setSubject([{ name: 'commonName', value: options.commonName }]);
  // Signed natively, so the private key never has to be converted into forge's JS representation.
  const oid = pki.oids['sha256WithRSAEncryption'] ?? '1.2.840.113549.1.1.11';
  csr.signatureOid = oid;
  csr.siginfo.algorithmOid = oid;
  const info = forgeInternals.getCertificationRequestInfo(csr);
  const signature = sign('sha256', binaryToBuffer(asn1.toDer(info).getBytes()), privateKey);
  (csr as forge.pki.CertificateSigningRequest & { certificationRequestInfo: forge.asn1.Asn1 }).certificationRequestInfo = info;
  csr.signature = bufferToBinary(signature);

  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  return {
    keyPem: typeof keyPem === 'string' ? keyPem : keyPem.toString('utf8'),
    csrPem: pki.certificationRequestToPem(csr).replace(/\r\n/g, '\n'),
  };
}
