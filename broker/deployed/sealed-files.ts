// Sealed blobs as files (0600, one per id, written atomically) under the broker's home: for a store that keeps
// none itself. They hold ciphertext only; the key to open them is in KMS. Once the store has
// getSealed/putSealed/deleteSealed (issue 19's store work), the store's own are used instead (sealedBlobsOf).
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SkiffError } from '../api/errors.js';
import type { SealedBlobs } from './sealing.js';

const ID = /^[a-z0-9][a-z0-9-]{0,62}(\/[a-z0-9][a-z0-9-]{0,62})?$/;

export function createFileSealedBlobs(dir: string): SealedBlobs {
  const file = (id: string): string => {
    if (!ID.test(id)) throw new SkiffError('BRK_INTERNAL', `sealed blob id ${JSON.stringify(id.slice(0, 80))} is not a simple name`);
    return join(dir, `${id.replace('/', '~')}.sealed`);
  };
  return {
    async getSealed(id) {
      try {
        return await readFile(file(id), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async putSealed(id, value) {
      const f = file(id);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(`${f}.${process.pid}.tmp`, value, { mode: 0o600 });
      await rename(`${f}.${process.pid}.tmp`, f);
    },
    async deleteSealed(id) {
      await rm(file(id), { force: true });
    },
  };
}

/** The store's own sealed blobs when it has them, else files in `dir`. */
export function sealedBlobsOf(store: object, dir: string): SealedBlobs {
  const s = store as Partial<SealedBlobs>;
  if (typeof s.getSealed === 'function' && typeof s.putSealed === 'function' && typeof s.deleteSealed === 'function') return s as SealedBlobs;
  return createFileSealedBlobs(dir);
}
