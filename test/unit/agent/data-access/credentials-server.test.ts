import t from 'tap';
import { pino } from 'pino';
import { createDataAccessHolder } from '../../../../agent/data-access/holder.js';
import { startCredentialsServer } from '../../../../agent/data-access/credentials-server.js';
import { AWS_CREDENTIAL_VARS, daskEnvironment } from '../../../../agent/data-access/dask-env.js';

const log = pino({ level: 'silent' });
const aws = { accessKeyId: 'ASIAFIRST', secretAccessKey: 'first-secret', sessionToken: 'first-token', expiration: '2026-12-02T16:00:00.000Z' };

t.test('the container-credentials endpoint: the token or nothing, the latest credentials in the ECS document', async (t) => {
  const holder = createDataAccessHolder();
  const server = await startCredentialsServer({ holder, log, now: () => Date.parse('2026-12-02T15:00:00Z') });
  t.teardown(() => server.close());
  t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/credentials$/, 'on loopback only');
  const get = (headers: Record<string, string> = { authorization: server.token }, url = server.url) => fetch(url, { headers }).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }));

  t.equal((await get({})).status, 401, 'no token: refused');
  t.equal((await get({ authorization: `${server.token}x` })).status, 401, 'a wrong token: refused');
  t.match(await get(), { status: 404, body: { message: /no AWS credentials were forwarded/ } }, 'nothing forwarded yet');
  t.equal((await get(undefined, server.url.replace('/v1/credentials', '/other'))).status, 404, 'one path only');

  holder.set({ aws, secretEnv: { TOKEN: 'v1' } });
  t.same(await get(), { status: 200, body: { AccessKeyId: 'ASIAFIRST', SecretAccessKey: 'first-secret', Token: 'first-token', Expiration: '2026-12-02T16:00:00.000Z' } });
  holder.set({ aws: { accessKeyId: 'ASIASECOND', secretAccessKey: 's2' }, secretEnv: { TOKEN: 'v2' } });
  t.same((await get()).body, { AccessKeyId: 'ASIASECOND', SecretAccessKey: 's2', Expiration: '2026-12-02T15:15:00.000Z' }, 'a refresh is served at once; no expiry given: 15 minutes ahead, so SDKs keep asking');
  t.same(holder.current()?.secretEnv, { TOKEN: 'v1' }, 'secret values stay the first ones (Dask\'s environment is set when it starts)');
  t.equal(server.served(), 2);
});

t.test('the holder hands the first payload to whoever waits, and every change to listeners', async (t) => {
  const holder = createDataAccessHolder();
  const seen: string[] = [];
  holder.onChange((p) => seen.push(p.aws?.accessKeyId ?? '-'));
  const first = holder.first();
  holder.set({ aws, secretEnv: {} });
  t.equal((await first).aws?.accessKeyId, 'ASIAFIRST');
  t.equal((await holder.first()).aws?.accessKeyId, 'ASIAFIRST', 'at once once here');
  holder.set({ aws: { ...aws, accessKeyId: 'ASIANEXT' }, secretEnv: {} });
  t.same(seen, ['ASIAFIRST', 'ASIANEXT']);
});

t.test('Dask\'s environment: inherited AWS credential settings removed, the user\'s variables and the endpoint added, skiff\'s own last', async (t) => {
  const inherited: Record<string, string> = { PATH: '/usr/bin', AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true' };
  for (const k of AWS_CREDENTIAL_VARS) inherited[k] = 'from-broker';
  const env = daskEnvironment(inherited, {
    command: { PYTHONUNBUFFERED: '1' }, env: { STAGE: 'test' }, payload: { secretEnv: { TOKEN: 'v' } },
    credentials: { url: 'http://127.0.0.1:1/v1/credentials', token: 'tkn', tokenFile: '/m/token' },
  });
  t.same(env, {
    PATH: '/usr/bin', AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true', STAGE: 'test', TOKEN: 'v', PYTHONUNBUFFERED: '1',
    AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:1/v1/credentials', AWS_CONTAINER_AUTHORIZATION_TOKEN: 'tkn', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/m/token',
  });
  const bare = daskEnvironment(inherited, { command: {} });
  t.notOk(Object.keys(bare).some((k) => (AWS_CREDENTIAL_VARS as readonly string[]).includes(k)), 'without forwarding: no AWS credentials at all from the agent');
  t.equal(bare['AWS_REGION'], 'eu-west-1', 'the region and other settings stay');
});

t.test('Dask\'s environment keeps only an allow-list of the agent\'s: no enrol token, no broker or agent settings, nothing unknown', async (t) => {
  const inherited: Record<string, string> = {
    PATH: '/usr/bin', HOME: '/root', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', LD_LIBRARY_PATH: '/usr/local/cuda/lib64', CUDA_VISIBLE_DEVICES: '0',
    DASK_DISTRIBUTED__WORKER__DAEMON: 'False', PYTHONHASHSEED: '0', HTTPS_PROXY: 'http://proxy:3128', AWS_DEFAULT_REGION: 'us-east-1',
    SKIFF_ENROL_TOKEN: 'eyJenrol', SKIFF_BROKER_URL: 'https://broker', SKIFF_MACHINE_ID: 'i-0abc', SKIFF_API_KEY: 'key',
    INVOCATION_ID: 'abc', GITHUB_TOKEN: 'ghp_secret', DATABASE_URL: 'postgres://u:p@db/x', AWS_SECRET_ACCESS_KEY: 'secret',
  };
  const env = daskEnvironment(inherited, { command: { DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: 'True' } });
  t.same(env, {
    PATH: '/usr/bin', HOME: '/root', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', LD_LIBRARY_PATH: '/usr/local/cuda/lib64', CUDA_VISIBLE_DEVICES: '0',
    DASK_DISTRIBUTED__WORKER__DAEMON: 'False', PYTHONHASHSEED: '0', HTTPS_PROXY: 'http://proxy:3128', AWS_DEFAULT_REGION: 'us-east-1',
    DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: 'True',
  });
  t.notOk(JSON.stringify(env).includes('eyJenrol'), 'the enrol token is not in Dask\'s environment');
});
