// The CLI's kept aws-iam sign-in: one sign-in serves every command until a fifth of its life is left, a new
// CLI process reads it back (0600), and a refused token is dropped. Against a stand-in broker on 127.0.0.1
// that records each signed request it is sent.
import t from 'tap';
import { createServer } from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createAwsTokenSource } from '../../broker/cli/aws-login.js';
import type { AwsAuthRequest } from '../../broker/api/auth.js';
import { listen } from '../helpers/http-server.js';

t.test('a sign-in is kept 0600 per broker and credential source, reused, and renewed before it expires', async (t) => {
  const received: AwsAuthRequest[] = [];
  let clock = Date.parse('2026-12-07T12:00:00Z');
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as AwsAuthRequest);
      const text = JSON.stringify({ token: `token-${received.length}`, expiresAt: new Date(clock + 3600_000).toISOString(), expiresInS: 3600, principal: { id: 'arn:aws:iam::123456789012:user/alice', person: 'alice', admin: false } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    });
  });
  const l = await listen(server);
  t.teardown(() => l.stop());
  const home = t.testdir();
  const o = {
    home, brokerUrl: `http://${l.authority}`, health: { brokerId: 'team-x', stsRegion: 'eu-west-1' }, credentialSource: 'abc123',
    keys: () => Promise.resolve({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }), now: () => clock,
  };
  const cli = createAwsTokenSource(o);
  t.equal(await cli.token(), 'token-1');
  t.equal(await cli.token(), 'token-1', 'the next command reuses it');
  t.equal(received.length, 1, 'one sign-in');
  t.match(received[0], { method: 'POST', url: 'https://sts.eu-west-1.amazonaws.com/', headers: { host: 'sts.eu-west-1.amazonaws.com', 'x-skiff-broker-id': 'team-x', authorization: /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/sts\/aws4_request, SignedHeaders=[^,]*x-skiff-broker-id/ } }, 'signed for the broker\'s STS region, naming the broker');
  const sent = received[0] as { headers: Record<string, string> };
  t.equal(sent.headers['authorization']?.split('/')[1], sent.headers['x-amz-date']?.slice(0, 8), 'the credential scope is the day of the signature');
  t.ok(Math.abs(Date.parse(sent.headers['x-amz-date']?.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z') ?? '') - Date.now()) < 60_000, 'signed now');
  t.notMatch(JSON.stringify(received[0]), /secret/, 'the secret key is not sent');
  const files = readdirSync(join(home, 'auth'));
  t.same(files, ['team-x.abc123.json']);
  t.equal(statSync(join(home, 'auth', files[0] ?? '')).mode & 0o777, 0o600);

  t.equal(await createAwsTokenSource(o).token(), 'token-1', 'another CLI process reads the kept one');
  t.equal(await createAwsTokenSource({ ...o, credentialSource: 'other' }).token(), 'token-2', 'other credentials sign in for themselves');
  clock += 47 * 60_000;
  t.equal(await cli.token(), 'token-1', 'at 47 of 60 minutes it is still used');
  clock += 2 * 60_000;
  t.equal(await cli.token(), 'token-3', 'with less than a fifth of its life left it is renewed');
  cli.invalidate();
  t.equal(await cli.token(), 'token-4', 'a refused one is dropped and replaced');
  t.throws(() => createAwsTokenSource({ ...o, health: { brokerId: '../../etc/passwd' } }), { code: 'CLI_BROKER_UNREACHABLE', message: /names no valid broker id/ }, 'a broker id that is no file name is refused');
});
