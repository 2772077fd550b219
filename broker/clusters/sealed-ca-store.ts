// Each cluster's CA with its key sealed (the deployed broker): the key is encrypted with the workspace's KMS key
// and only the ciphertext is put in the store, beside the certificate (public). The plaintext key lives in this
// process's memory only. `signer()` stays synchronous: the active clusters' keys are opened when the store is
// opened and each new CA is cached as it is made.
//
//   open:    store.getSealed(cluster-ca/<id>) ──KMS Decrypt──▶ key PEM ──▶ signer (memory)     for each active id
//   create:  createCa ──KMS Encrypt(key PEM)──▶ store.putSealed(cluster-ca/<id>, {certPem, key})
//   retire:  forget the signer, store.deleteSealed(cluster-ca/<id>)
//
// A cluster another broker created after this one opened (two brokers during an upgrade) is loaded on first
// use: signer() answers BRK_NOT_READY (retryable) meanwhile, and the agent's retry finds it.
import type { Logger } from 'pino';
import { SkiffError } from '../api/errors.js';
import { createCa, loadCaSigner, type CaSigner } from '../pki/ca.js';
import { CA_VALIDITY_MS, type CaStore } from './ca-store.js';
import type { Sealer, SealedBlobs } from '../deployed/sealing.js';

export interface SealedCaStoreOptions {
  blobs: SealedBlobs;
  sealer: Sealer;
  /** Bound into each key's encryption context, with the cluster id. */
  workspace: string;
  /** Clusters whose CA may still sign (the active ones): opened before this returns. */
  activeClusterIds: readonly string[];
  now: () => Date;
  log: Logger;
}

export interface SealedCaStore extends CaStore {
  /** Resolves once every background load and delete started so far has finished (shutdown, tests). */
  idle(): Promise<void>;
}

interface SealedCa {
  v: 1;
  certPem: string;
  /** The key PEM, sealed (base64 KMS ciphertext). */
  key: string;
}

/** How many keys are opened at once at start (each one KMS Decrypt). */
const OPEN_CONCURRENCY = 8;

export const sealedCaId = (clusterId: string): string => `cluster-ca/${clusterId}`;

export async function openSealedCaStore(o: SealedCaStoreOptions): Promise<SealedCaStore> {
  const signers = new Map<string, CaSigner>();
  const loading = new Map<string, Promise<void>>();
  const pending = new Set<Promise<unknown>>();
  const context = (clusterId: string) => ({ 'skiff:workspace': o.workspace, 'skiff:purpose': 'cluster-ca-key', 'skiff:cluster': clusterId });
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };

  const load = async (clusterId: string): Promise<void> => {
    const text = await o.blobs.getSealed(sealedCaId(clusterId));
    if (text === undefined) throw new SkiffError('BRK_STORE_CORRUPT', `no CA is kept for cluster ${clusterId}: nothing more can be signed for it; stop it and make a new one`);
    let sealed: SealedCa;
    try {
      sealed = JSON.parse(text) as SealedCa;
      if (sealed.v !== 1 || typeof sealed.certPem !== 'string' || typeof sealed.key !== 'string') throw new Error('unknown shape');
    } catch (err) {
      throw new SkiffError('BRK_STORE_CORRUPT', `the kept CA of cluster ${clusterId} is not readable`, { cause: err });
    }
    const keyPem = (await o.sealer.open(sealed.key, context(clusterId))).toString('utf8');
    signers.set(clusterId, loadCaSigner({ certPem: sealed.certPem, keyPem }));
  };

  const queue = [...o.activeClusterIds];
  const failed: string[] = [];
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, queue.length) }, async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const clusterId = id;
      await load(clusterId).catch((err: unknown) => {
        // One unreadable CA does not keep the broker down: that cluster cannot sign, the others can.
        failed.push(clusterId);
        o.log.error({ clusterId, err }, 'cluster CA could not be opened');
      });
    }
  }));
  o.log.info({ opened: signers.size, failed: failed.length }, 'cluster CAs opened');

  return {
    async create(clusterId) {
      const ca = await createCa({ clusterId, validityMs: CA_VALIDITY_MS, now: o.now });
      const sealed: SealedCa = { v: 1, certPem: ca.certPem, key: await o.sealer.seal(Buffer.from(ca.keyPem, 'utf8'), context(clusterId)) };
      await o.blobs.putSealed(sealedCaId(clusterId), JSON.stringify(sealed));
      signers.set(clusterId, loadCaSigner(ca));
    },
    signer(clusterId) {
      const s = signers.get(clusterId);
      if (s) return s;
      if (!loading.has(clusterId)) {
        const p = track(load(clusterId))
          .catch((err: unknown) => o.log.error({ clusterId, err }, 'cluster CA could not be opened'))
          .finally(() => loading.delete(clusterId));
        loading.set(clusterId, p);
      }
      throw new SkiffError('BRK_NOT_READY', `the CA of cluster ${clusterId} is being opened; try again in a moment`);
    },
    retire(clusterId) {
      signers.delete(clusterId);
      void track(o.blobs.deleteSealed(sealedCaId(clusterId))).catch((err: unknown) => o.log.warn({ clusterId, err }, 'the sealed CA key of a finished cluster could not be deleted'));
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
