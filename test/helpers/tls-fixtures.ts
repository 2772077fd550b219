// Test certificates made on the fly (node-forge builds them, Node's crypto makes the RSA keys because it is
// fast). Independent of broker/pki on purpose: gateway tests need a CA, a server and a client certificate for
// a stand-in "Dask" TLS server, and a certificate for the gateway's dashboard listener.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export type KeyAndCert = { keyPem: string; certPem: string };

type Issuer = { key: forge.pki.rsa.PrivateKey; cert: forge.pki.Certificate };

export type TlsFixtures = {
  daskCa: KeyAndCert;
  daskServer: KeyAndCert; // signed by daskCa, serverAuth + clientAuth, SAN 127.0.0.1
  daskClient: KeyAndCert; // signed by daskCa, clientAuth
  gateway: KeyAndCert; // self-signed, for the dashboard listener
};

function newKey(): { keyPem: string; key: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  return { keyPem, key, publicKey };
}

function baseCert(cn: string, publicKey: forge.pki.rsa.PublicKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: clear the top bit.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  return cert;
}

function makeCa(cn: string): KeyAndCert & Issuer {
  const { keyPem, key, publicKey } = newKey();
  const cert = baseCert(cn, publicKey);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert), key, cert };
}

function issue(
  issuer: Issuer | 'self',
  cn: string,
  usage: { serverAuth: boolean; clientAuth: boolean },
): KeyAndCert {
  const { keyPem, key, publicKey } = newKey();
  const cert = baseCert(cn, publicKey);
  cert.setIssuer(issuer === 'self' ? cert.subject.attributes : issuer.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', ...usage },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 7, ip: '127.0.0.1' },
        { type: 2, value: 'localhost' },
      ],
    },
  ]);
  cert.sign(issuer === 'self' ? key : issuer.key, forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

let cached: TlsFixtures | undefined;

// One set per process: key generation costs ~100 ms per key on a loaded machine.
export function tlsFixtures(): TlsFixtures {
  if (cached !== undefined) return cached;
  const ca = makeCa('test dask ca');
  cached = {
    daskCa: { keyPem: ca.keyPem, certPem: ca.certPem },
    daskServer: issue(ca, 'dask-scheduler', { serverAuth: true, clientAuth: true }),
    daskClient: issue(ca, 'dask-client', { serverAuth: false, clientAuth: true }),
    gateway: issue('self', 'skiff-gateway', { serverAuth: true, clientAuth: false }),
  };
  return cached;
}
