// What the CLI forwards, resolved from the user's own default chain against a real STS API (moto): long-lived
// keys are exchanged for a one-hour session (sts:GetSessionToken) so no machine holds them; a session is
// forwarded as it is, with the expiry its source gave; the identity is sts:GetCallerIdentity's ARN.
import t from 'tap';
import { startMoto } from '../helpers/moto.js';
import { resolveAwsCredentials, SESSION_SECONDS } from '../../broker/cli/data-access.js';

const CHAIN = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CREDENTIAL_EXPIRATION', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_STS'];

t.test('long-lived keys become a session; a session is forwarded as it is', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const saved = Object.fromEntries(CHAIN.map((k) => [k, process.env[k]]));
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  for (const k of CHAIN) delete process.env[k];
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIALONGLIVEDKEY0001', AWS_SECRET_ACCESS_KEY: 'long-lived-secret', AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_EC2_METADATA_DISABLED: 'true',
  });
  const before = Date.now();
  const session = await resolveAwsCredentials();
  t.not(session.accessKeyId, 'AKIALONGLIVEDKEY0001', 'not the long-lived key');
  t.not(session.secretAccessKey, 'long-lived-secret', 'nor its secret');
  t.ok(session.sessionToken, 'a session token');
  const left = Date.parse(session.expiration ?? '') - before;
  t.ok(left > (SESSION_SECONDS - 120) * 1000 && left <= (SESSION_SECONDS + 60) * 1000, `a one-hour session (${Math.round(left / 1000)} s left)`);
  t.match(session.identity, /^arn:aws:(iam|sts)::\d{12}:/, `the identity from GetCallerIdentity: ${session.identity ?? ''}`);

  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'ASIASESSIONEXAMPLE', AWS_SECRET_ACCESS_KEY: 'session-secret', AWS_SESSION_TOKEN: 'session-token', AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z',
  });
  const asIs = await resolveAwsCredentials();
  t.match(asIs, { accessKeyId: 'ASIASESSIONEXAMPLE', secretAccessKey: 'session-secret', sessionToken: 'session-token', expiration: '2030-01-01T00:00:00.000Z' }, 'a session is forwarded as it is, with its expiry');

  process.env['AWS_ENDPOINT_URL_STS'] = 'http://127.0.0.1:9'; // nothing listens there
  await t.rejects(resolveAwsCredentials(), { code: 'CLI_NO_AWS_CREDENTIALS', message: /could not get short-lived AWS credentials to forward .*--no-forward-aws-credentials/ }, 'an unreachable STS is one clear error');
});
