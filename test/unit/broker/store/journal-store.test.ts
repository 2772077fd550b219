// The store contract (test/helpers/store-contract.ts) on the journal store, the local broker's.
import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../../../../broker/store/store.js';
import { storeContract } from '../../../helpers/store-contract.js';

storeContract(t, (t) => {
  const path = join(t.testdir(), 'store.jsonl');
  return Promise.resolve({ open: () => Promise.resolve(openStore(path)), concurrentOpen: false });
});
