// Key pairs and CSRs made by agents and the CLI.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import t from 'tap';
import { createKeyAndCsr } from '../../../../broker/api/csr.js';

void t.test('makes a 2048-bit RSA PKCS#8 key and a self-signed CSR for its public key', async (t) => {
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'worker-3' });
  t.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const key = createPrivateKey(keyPem);
  t.equal(key.asymmetricKeyDetails?.modulusLength, 2048);

  const csr = forge.pki.certificationRequestFromPem(csrPem, true);
  t.ok(csr.verify(), 'the CSR signature verifies (proof of possession)');
  t.equal((csr.subject.getField('CN') as { value: string } | null)?.value, 'worker-3');
  const csrKey = csr.publicKey as forge.pki.rsa.PublicKey;
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  t.equal(Buffer.from(csrKey.n.toString(16).padStart(512, '0'), 'hex').toString('base64url'), jwk.n, 'the CSR carries the key pair public key');
  t.notMatch(csrPem, /PRIVATE/);
});

void t.test('each call makes a new key', async (t) => {
  const a = await createKeyAndCsr({ commonName: 'x' });
  const b = await createKeyAndCsr({ commonName: 'x' });
  t.not(a.keyPem, b.keyPem);
});
