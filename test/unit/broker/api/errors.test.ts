import t from 'tap';
import { ERROR_CODES, ERROR_TABLE, SkiffError } from '../../../../broker/api/errors.js';

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

t.test('every code has an HTTP status and a retryability, and the table has no code the catalogue lacks', async (t) => {
  t.same(Object.keys(ERROR_TABLE).sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, row] of Object.entries(ERROR_TABLE)) {
    t.ok(Number.isInteger(row.status) && row.status >= 400 && row.status <= 599, `${code} has an error status`);
    t.type(row.retryable, 'boolean', `${code} says whether to retry`);
  }
  t.equal(ERROR_TABLE.BRK_NOT_READY.status, 503);
  t.equal(new SkiffError('BRK_NOT_READY', 'launching').retryable, true, 'retryability defaults to the table');
  t.equal(new SkiffError('PRV_CLOUD_ERROR', 'throttled', { retryable: true }).retryable, true, 'a thrower may say more');
});
