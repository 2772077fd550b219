import t from 'tap';
import { ERROR_CODES, SkiffError } from '../../../broker/api/errors.js';

t.test('every error code in the catalogue equals its key and names its part', async (t) => {
  for (const [key, code] of Object.entries(ERROR_CODES)) {
    t.equal(code, key);
    t.match(code, /^(CLI|BRK|PRV|AGT)_[A-Z_]+$/);
  }
});

t.test('a SkiffError keeps its code, cause and retryability', async (t) => {
  const cause = new Error('socket hang up');
  const e = new SkiffError('PRV_CLOUD_ERROR', 'EC2 said no', { cause, retryable: true });
  t.equal(e.code, 'PRV_CLOUD_ERROR');
  t.equal(e.cause, cause);
  t.equal(e.retryable, true);
  t.equal(new SkiffError('BRK_NOT_FOUND', 'x').retryable, false);
});
