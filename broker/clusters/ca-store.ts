// Each cluster's CA on disk (the local broker's CA store): the key (0600) never leaves this directory, the broker
// is its only reader, and it is deleted when the cluster is over. Signers are loaded once and kept.
// The deployed broker keeps its CAs sealed with KMS in its store instead (sealed-ca-store.ts): one CaStore
// interface, two implementations.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, loadCaSigner, type CaSigner } from '../pki/ca.js';

/** Cluster CAs live 30 days: longer than any cluster's certificates, which the CA signs for a week at most. */
export const CA_VALIDITY_MS = 30 * 24 * 3600_000;

/** signer() is synchronous: an implementation loads keys ahead (or throws a retryable BRK_NOT_READY). */
export interface CaStore {
  create(clusterId: string): Promise<void>;
  signer(clusterId: string): CaSigner;
  /** The cluster is over: its key is deleted (the certificate stays, it is public), so nothing more is signed. */
  retire(clusterId: string): void;
}

export function createCaStore(o: { dir: string; now: () => Date }): CaStore {
  const signers = new Map<string, CaSigner>();
  return {
    async create(clusterId) {
      mkdirSync(o.dir, { recursive: true, mode: 0o700 });
      const ca = await createCa({ clusterId, validityMs: CA_VALIDITY_MS, now: o.now });
      writeFileSync(join(o.dir, `${clusterId}.key`), ca.keyPem, { mode: 0o600 });
      writeFileSync(join(o.dir, `${clusterId}.pem`), ca.certPem, { mode: 0o600 });
    },
    signer(clusterId) {
      let s = signers.get(clusterId);
      if (!s) {
        const certPem = readFileSync(join(o.dir, `${clusterId}.pem`), 'utf8');
        const keyPem = readFileSync(join(o.dir, `${clusterId}.key`), 'utf8');
        s = loadCaSigner({ certPem, keyPem });
        signers.set(clusterId, s);
      }
      return s;
    },
    retire(clusterId) {
      signers.delete(clusterId);
      rmSync(join(o.dir, `${clusterId}.key`), { force: true });
    },
  };
}
