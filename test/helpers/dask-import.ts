// test/integration/fixtures/dask_import.py's answer: on each worker and on the scheduler, MODULE's __version__ and
// the interpreter that imported it.
import { join } from 'node:path';
import { ROOT } from './skiff.js';

export const DASK_IMPORT = join(ROOT, 'test/integration/fixtures/dask_import.py');

export interface ImportProbe {
  workers: Record<string, { version?: string; python: string; error?: string }>;
  scheduler: { version?: string; python: string; error?: string };
}
