// The per-cluster CA certificate and its loading for signing.
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { createCa, loadCaSigner } from '../../../../broker/pki/ca.js';

const execFileAsync = promisify(execFile);

void t.test('a cluster CA is a self-signed CA named after the cluster, limited to signing leaf certificates', async (t) => {
  const now = new Date();
  const ca = await createCa({ clusterId: 'cl-42', validityMs: 7 * 24 * 3600_000, now: () => now });
  const x509 = new X509Certificate(ca.certPem);
  t.equal(x509.ca, true);
  t.match(x509.subject, /CN=skiff cluster cl-42 CA/);
  t.equal(x509.subject, x509.issuer);
  t.ok(x509.verify(x509.publicKey), 'self-signed');
  t.equal(x509.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.equal(new Date(x509.validTo).getTime(), Math.floor((now.getTime() + 7 * 24 * 3600_000) / 1000) * 1000);

  const dir = t.testdir({ 'ca.pem': ca.certPem });
  const { stdout } = await execFileAsync('/usr/bin/openssl', ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-text'], { timeout: 30_000 });
  t.match(stdout, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  t.match(stdout, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  t.match(stdout, /Subject Key Identifier/);
  const verified = await execFileAsync('/usr/bin/openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'ca.pem')], { timeout: 30_000 });
  t.match(verified.stdout, /OK/);
});

void t.test('the CA key is an unencrypted PKCS#8 RSA key matching the certificate', async (t) => {
  const ca = await createCa({ clusterId: 'cl-1', validityMs: 3600_000 });
  t.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  const signer = loadCaSigner(ca);
  t.equal(createPrivateKey(ca.keyPem).asymmetricKeyType, 'rsa');
  t.ok(new X509Certificate(ca.certPem).checkPrivateKey(signer.key));
});

void t.test('loading a CA whose key belongs to another CA is refused as a corrupt store', async (t) => {
  const a = await createCa({ clusterId: 'a', validityMs: 3600_000 });
  const b = await createCa({ clusterId: 'b', validityMs: 3600_000 });
  t.throws(() => loadCaSigner({ certPem: a.certPem, keyPem: b.keyPem }), { code: 'BRK_STORE_CORRUPT', message: /does not match/ });
  t.throws(() => loadCaSigner({ certPem: 'nope', keyPem: a.keyPem }), { code: 'BRK_STORE_CORRUPT' });
});

void t.test('a CA without a cluster id or with a non-positive validity is refused', async (t) => {
  await t.rejects(createCa({ clusterId: '', validityMs: 1000 }), { code: 'BRK_BAD_REQUEST' });
  await t.rejects(createCa({ clusterId: 'x', validityMs: -1 }), { code: 'BRK_BAD_REQUEST' });
});
