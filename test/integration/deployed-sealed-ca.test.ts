// The deployed broker's sealed CA store and token key against moto's KMS: the store holds ciphertext only, a
// restarted broker (a new store over the same blobs, a new KMS client) signs for a cluster made before, a key
// sealed for one cluster cannot be opened as another's, and a finished cluster's key is deleted.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { pino } from 'pino';
import { startMoto } from '../helpers/moto.js';
import { publishWorkspace } from '../helpers/deployed.js';
import { openSealedCaStore, sealedCaId } from '../../broker/clusters/sealed-ca-store.js';
import { createKmsSealer } from '../../broker/deployed/kms-sealer.js';
import { createFileSealedBlobs } from '../../broker/deployed/sealed-files.js';
import { loadOrCreateSealedTokenKey } from '../../broker/deployed/sealed-token-key.js';
import { createKeyAndCsr } from '../../broker/api/csr.js';
import { signCsr } from '../../broker/pki/sign.js';
import { createTokenIssuer } from '../../broker/tokens/issuer.js';

const log = pino({ level: 'silent' });

t.test('sealed cluster CAs survive a restart and open for their own cluster only', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const ws = await publishWorkspace(moto, 'team', 'https://127.0.0.1:8443');
  const dir = mkdtempSync(join(tmpdir(), 'skiff-sealed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const blobs = createFileSealedBlobs(dir);
  const sealerFor = () => createKmsSealer({ kms: new KMSClient(moto.clientConfig), keyId: ws.record.kmsKeyId });

  const first = await openSealedCaStore({ blobs, sealer: sealerFor(), workspace: 'team', activeClusterIds: [], now: () => new Date(), log });
  await first.create('c0000000001');
  await first.create('c0000000002');
  const caPem = first.signer('c0000000001').certPem;

  const kept = await blobs.getSealed(sealedCaId('c0000000001'));
  t.ok(kept, 'the CA is kept in the store');
  t.notMatch(kept ?? '', /PRIVATE KEY/, 'the kept CA carries no plaintext key');
  for (const f of readdirSync(dir)) t.notMatch(readFileSync(join(dir, f), 'utf8'), /PRIVATE KEY/, `${f} holds ciphertext only`);

  // A restart: nothing in memory, a new KMS client, the same blobs; only cluster 1 is still active.
  const second = await openSealedCaStore({ blobs, sealer: sealerFor(), workspace: 'team', activeClusterIds: ['c0000000001'], now: () => new Date(), log });
  const { csrPem } = await createKeyAndCsr({ commonName: 'worker' });
  const cert = signCsr(second.signer('c0000000001'), { csrPem, profile: 'node', commonName: 'worker.c0000000001', sans: { ips: ['10.0.0.5'], dns: [] }, validityMs: 3_600_000 });
  t.ok(new X509Certificate(cert.certPem).verify(new X509Certificate(caPem).publicKey), 'the restarted broker signs with the cluster\'s own CA');

  // Cluster 2 was not loaded at start: asked for, it is opened in the background and answers once ready.
  t.throws(() => second.signer('c0000000002'), { code: 'BRK_NOT_READY' }, 'a CA not loaded yet is a retryable refusal');
  await second.idle();
  t.ok(second.signer('c0000000002'), 'and is there on the retry');

  // A key sealed for cluster 1 put under cluster 3's id does not open: the encryption context names the cluster.
  await blobs.putSealed(sealedCaId('c0000000003'), kept ?? '');
  const third = await openSealedCaStore({ blobs, sealer: sealerFor(), workspace: 'team', activeClusterIds: ['c0000000003'], now: () => new Date(), log });
  t.throws(() => third.signer('c0000000003'), { code: 'BRK_NOT_READY' });
  await third.idle();
  t.throws(() => third.signer('c0000000003'), { code: 'BRK_NOT_READY' }, 'a key moved to another cluster\'s id never opens');

  second.retire('c0000000001');
  await second.idle();
  t.equal(await blobs.getSealed(sealedCaId('c0000000001')), undefined, 'a finished cluster\'s sealed key is deleted');
  t.throws(() => second.signer('c0000000001'), { code: 'BRK_NOT_READY' }, 'and nothing more is signed for it');
});

t.test('the token signing key is made once, sealed, and the same after a restart', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const ws = await publishWorkspace(moto, 'default', 'https://127.0.0.1:8443');
  const dir = mkdtempSync(join(tmpdir(), 'skiff-sealed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const blobs = createFileSealedBlobs(dir);
  const sealer = createKmsSealer({ kms: new KMSClient(moto.clientConfig), keyId: ws.kmsKeyId });
  const a = await loadOrCreateSealedTokenKey({ blobs, sealer, workspace: 'default' });
  t.equal(a.created, true);
  t.notMatch(await blobs.getSealed('token-signing-key') ?? '', /"d"/, 'only ciphertext is stored');
  const token = await createTokenIssuer({ privateJwk: a.privateJwk }).mint('user', { sub: 'someone' }, 60);
  const b = await loadOrCreateSealedTokenKey({ blobs, sealer: createKmsSealer({ kms: new KMSClient(moto.clientConfig), keyId: ws.kmsKeyId }), workspace: 'default' });
  t.equal(b.created, false);
  t.match(await createTokenIssuer({ privateJwk: b.privateJwk }).verify('user', token), { sub: 'someone' }, 'a token from before the restart verifies after it');
  await t.rejects(loadOrCreateSealedTokenKey({ blobs, sealer, workspace: 'other' }), { code: 'BRK_CONFIG' }, 'another workspace\'s broker cannot open it');
});
