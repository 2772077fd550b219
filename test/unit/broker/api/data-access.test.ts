import t from 'tap';
import { dataAccessLine, describePayload, parseDataPayload, parseEnv, parseSecretEnvNames } from '../../../../broker/api/data-access.js';

t.test('env pairs: names as shells take them, not skiff\'s own; values bounded', async (t) => {
  t.same(parseEnv({ STAGE: 'test', _X1: '' }), { STAGE: 'test', _X1: '' });
  t.equal(parseEnv({}), undefined, 'none is absent');
  t.equal(parseEnv(undefined), undefined);
  t.throws(() => parseEnv({ '1X': '2' }), { code: 'BRK_BAD_REQUEST', message: /--env name "1X" is not valid/ });
  t.throws(() => parseEnv({ 'A-B': '2' }), { message: /not valid/ });
  for (const reserved of ['SKIFF_HOME', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION', 'PYTHONUNBUFFERED']) {
    t.throws(() => parseEnv({ [reserved]: 'x' }), { message: /is reserved/ }, reserved);
  }
  t.throws(() => parseEnv({ A: 1 }), { message: /must be a string/ });
  t.throws(() => parseEnv({ A: 'x'.repeat(8 * 1024 + 1) }), { message: /at most 8192 bytes/ });
  t.throws(() => parseEnv({ A: 'a\0b' }), { message: /without NUL/ });
  t.throws(() => parseEnv(['A=1']), { message: /env must be an object/ });
  t.throws(() => parseEnv(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`V${i}`, '1']))), { message: /at most 100/ });
});

t.test('secret env: names only, deduplicated, not also plain', async (t) => {
  t.same(parseSecretEnvNames(['TOKEN', 'TOKEN', 'OTHER'], undefined), ['TOKEN', 'OTHER']);
  t.same(parseSecretEnvNames(undefined, undefined), []);
  t.throws(() => parseSecretEnvNames(['A'], { A: '1' }), { message: /A is given both with --env and --secret-env/ });
  t.throws(() => parseSecretEnvNames('TOKEN', undefined), { message: /a list of names/ });
  t.throws(() => parseSecretEnvNames([{ TOKEN: 'value' }], undefined), { message: /takes names/ });
  t.throws(() => parseSecretEnvNames(['9LIVES'], undefined), { message: /--secret-env name "9LIVES" is not valid/ });
});

t.test('a payload keeps what the cluster expects, and nothing else', async (t) => {
  const aws = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret/key+1', sessionToken: 'tok', expiration: '2026-12-02T16:00:00Z', identity: 'arn:aws:sts::1:assumed-role/r/s' };
  const p = parseDataPayload({ aws: { ...aws, extra: 'dropped' }, secretEnv: { TOKEN: 'v' }, more: 1 }, ['TOKEN']);
  t.same(p, { aws: { ...aws, expiration: '2026-12-02T16:00:00.000Z' }, secretEnv: { TOKEN: 'v' } });
  t.same(parseDataPayload({ secretEnv: {} }, []), { secretEnv: {} }, 'secret values alone');
  t.throws(() => parseDataPayload({ secretEnv: { OTHER: 'v' } }, ['TOKEN']), { message: /OTHER.*was not named with --secret-env/ });
  t.throws(() => parseDataPayload({ aws: { accessKeyId: 'A' } }, []), { message: /aws.secretAccessKey is missing or malformed/ });
  t.throws(() => parseDataPayload({ aws: { ...aws, accessKeyId: 'with space' } }, []), { message: /aws.accessKeyId/ });
  t.throws(() => parseDataPayload({ aws: { ...aws, expiration: 'soon' } }, []), { message: /aws.expiration is not a time/ });
  t.throws(() => parseDataPayload([], []), { message: /is an object/ });
  t.throws(() => parseDataPayload({ secretEnv: { TOKEN: 7 } }, ['TOKEN']), { message: /secret variable TOKEN is malformed/ });
});

t.test('what the broker is told, and what status prints: names, identity, expiry; never a key or a value', async (t) => {
  const at = new Date('2026-12-02T15:00:00Z');
  const state = describePayload({ aws: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'SECRET', sessionToken: 'TOKEN', expiration: '2026-12-02T16:00:00.000Z', identity: 'arn:aws:iam::1:user/ana' }, secretEnv: { B: 'valueB', A: 'valueA' } }, at);
  t.same(state, { receivedAt: '2026-12-02T15:00:00.000Z', secretEnv: ['A', 'B'], identity: 'arn:aws:iam::1:user/ana', expiresAt: '2026-12-02T16:00:00.000Z' });
  t.notMatch(JSON.stringify(state), /SECRET|TOKEN|ASIAEXAMPLE|value/, 'no key, token or value in it');
  t.equal(dataAccessLine({ forwardAws: true, secretEnv: ['A', 'B'] }, state),
    'AWS credentials forwarded from the client: arn:aws:iam::1:user/ana, until 2026-12-02T16:00:00.000Z (received 2026-12-02T15:00:00.000Z); secret env A, B');
  t.equal(dataAccessLine({ forwardAws: true, secretEnv: [] }, undefined), 'AWS credentials forwarded from the client: none received yet');
  t.equal(dataAccessLine({ forwardAws: false, secretEnv: ['A'] }, undefined), 'AWS credentials not forwarded (Dask has only what its machine has: on aws, the instance role); secret env A (not received yet)');
  t.equal(dataAccessLine(undefined, undefined), undefined, 'a record from before data access says nothing');
});
