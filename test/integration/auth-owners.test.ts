// People are their IAM identity, and every cluster has an owner: a self-hosted `skiff broker --auth aws-iam`
// on 127.0.0.1 (local backend) whose STS is a moto server with IAM authentication on, so every signature is
// checked by moto with keys it issued. Users A and B, an admin, an ungranted user, and a user who assumes a
// role, each with a skiff home of their own and their own AWS keys.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { startMoto } from '../helpers/moto.js';
import { makeHome, ROOT, SKIFF, type SkiffHome } from '../helpers/skiff.js';
import { signIdentityRequest, type AwsKeys } from '../../broker/cli/aws-login.js';

const ACCOUNT = '123456789012';
const BROKER_ID = 'itest-team';
const arn = (kind: 'user' | 'role', name: string) => `arn:aws:iam::${ACCOUNT}:${kind}/${name}`;
const PYTHON = process.env['SKIFF_MOTO_PYTHON'] ?? 'python3';

interface ClusterJson { id: string; name: string; state: string; owner?: string }

t.test('each person sees and acts on their own clusters only; admins see all; the ungranted are refused by name', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());

  // IAM, while moto's authentication is still off: the users, their keys, and a role one of them assumes.
  const iam = new IAMClient({ ...moto.clientConfig });
  const keys: Record<string, AwsKeys> = {};
  for (const name of ['alice', 'bob', 'carol', 'boss', 'dave']) {
    await iam.send(new CreateUserCommand({ UserName: name }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey;
    keys[name] = { accessKeyId: k?.AccessKeyId ?? '', secretAccessKey: k?.SecretAccessKey ?? '' };
  }
  const trust = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: arn('user', 'dave') }, Action: 'sts:AssumeRole' }] };
  await iam.send(new CreateRoleCommand({ RoleName: 'data-analysts', AssumeRolePolicyDocument: JSON.stringify(trust) }));
  await iam.send(new PutUserPolicyCommand({
    UserName: 'dave', PolicyName: 'assume', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }),
  }));
  iam.destroy();
  // From here on moto checks every request's signature against the keys it issued.
  const auth = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '0' });
  t.equal(auth.status, 200, 'moto authentication on');

  // The broker, in a home of its own: STS is moto's.
  const bh = makeHome('skiff-auth-broker-');
  const brokerEnv: NodeJS.ProcessEnv = { ...bh.env, AWS_ENDPOINT_URL_STS: moto.endpoint, AWS_REGION: 'us-east-1' };
  const broker = spawn(process.execPath, [SKIFF, 'broker', '--auth', 'aws-iam', '--broker-id', BROKER_ID, '--admin', arn('user', 'boss'), '--host', '127.0.0.1'], { env: brokerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let brokerLog = '';
  broker.stdout.on('data', (d: Buffer) => (brokerLog = (brokerLog + d.toString()).slice(-20_000)));
  broker.stderr.on('data', (d: Buffer) => (brokerLog = (brokerLog + d.toString()).slice(-20_000)));
  const homes: SkiffHome[] = [];
  t.teardown(async () => {
    // Each person stops their own clusters; then the broker home's cleanup stops the broker (by its pid).
    for (const h of homes) await h.cleanup();
    await bh.cleanup();
    if (broker.exitCode === null) broker.kill('SIGKILL');
  });
  let url = '';
  for (let i = 0; i < 300 && url === ''; i++) {
    try {
      url = (JSON.parse(readFileSync(join(bh.home, 'broker/broker.json'), 'utf8')) as { url: string }).url;
    } catch {
      if (broker.exitCode !== null) break;
      await sleep(100);
    }
  }
  t.not(url, '', `the broker started: ${brokerLog.slice(-2000)}`);
  const health = (await (await fetch(`${url}/v1/health`)).json()) as Record<string, unknown>;
  t.match(health, { ok: true, auth: 'aws-iam', brokerId: BROKER_ID, stsRegion: 'us-east-1' }, 'health says how to sign in');
  t.notOk(existsSync(join(bh.home, 'broker/api-key')), 'an aws-iam broker has no API key');

  const person = (extra: Record<string, string>): SkiffHome => {
    const h = makeHome('skiff-auth-user-');
    for (const k of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL']) delete h.env[k];
    Object.assign(h.env, {
      SKIFF_BROKER_URL: url, AWS_ENDPOINT_URL_STS: moto.endpoint, AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(h.home, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(h.home, 'no-aws-credentials'), ...extra,
    });
    homes.push(h);
    return h;
  };
  const withKeys = (name: string) => person({ AWS_ACCESS_KEY_ID: keys[name]?.accessKeyId ?? '', AWS_SECRET_ACCESS_KEY: keys[name]?.secretAccessKey ?? '' });
  const a = withKeys('alice');
  const b = withKeys('bob');
  const carol = withKeys('carol');
  const boss = withKeys('boss');
  const json = <T>(s: string): T => JSON.parse(s) as T;

  // The admin lets A and B in.
  for (const who of ['alice', 'bob']) {
    const g = await boss.run(['access', 'grant', arn('user', who)]);
    t.equal(g.code, 0, `boss grants ${who}: ${g.stderr}`);
  }
  const grants = await boss.run(['access', 'list', '--json']);
  t.same(json<Array<{ pattern: string; admin: boolean }>>(grants.stdout).map((g) => [g.pattern, g.admin]), [[arn('user', 'alice'), false], [arn('user', 'bob'), false], [arn('user', 'boss'), true]], 'the first admin came from --admin');

  // Both make a cluster of the same name: names are each owner's.
  const upA = await a.run(['up', '--workers', '1', '--name', 'work', '--json'], { timeoutMs: 240_000 });
  t.equal(upA.code, 0, `A's up: ${upA.stderr}`);
  const ca = json<ClusterJson>(upA.stdout);
  t.equal(ca.state, 'running');

  // B cannot see, read, get credentials for, scale or stop A's cluster: not found, as for none at all.
  t.same(json<ClusterJson[]>((await b.run(['list', '--json'])).stdout), [], 'B lists none');
  const none = await b.run(['status', 'c0000000000']);
  const expected = none.stderr.replace('c0000000000', ca.id);
  t.match(none.stderr, /no cluster named or with id "c0000000000"/);
  for (const args of [['status', ca.id], ['status', 'work'], ['logs', ca.id], ['scale', ca.id, '2'], ['down', ca.id], ['notifications', ca.id], ['adapt', ca.id, '--off']]) {
    const r = await b.run(args);
    const ref = args[1] ?? '';
    t.equal(r.code, 1, `B: skiff ${args.join(' ')} fails`);
    t.equal(r.stderr, ref === ca.id ? expected : none.stderr.replace('c0000000000', ref), `B: skiff ${args.join(' ')} says not found, as for no cluster`);
  }
  const out = join(b.home, 'stolen');
  const creds = await b.run(['credentials', ca.id, '--out', out]);
  t.equal(creds.stderr, expected, 'B gets no credentials for A\'s cluster');
  t.notOk(existsSync(out), 'and nothing was written');
  const bNotes = json<Array<{ clusterId: string }>>(`[${(await b.run(['notifications', '--json'])).stdout.trim().split('\n').filter(Boolean).join(',')}]`);
  t.same(bNotes, [], 'B sees no notification of A\'s');

  const upB = await b.run(['up', '--workers', '1', '--name', 'work', '--json'], { timeoutMs: 240_000 });
  t.equal(upB.code, 0, `B's up: ${upB.stderr}`);
  const cb = json<ClusterJson>(upB.stdout);
  t.not(cb.id, ca.id);
  t.same(json<ClusterJson[]>((await b.run(['list', '--json'])).stdout).map((c) => [c.id, c.owner]), [[cb.id, arn('user', 'bob')]], 'B\'s own cluster is B\'s');
  t.equal(json<ClusterJson>((await a.run(['status', 'work', '--json'])).stdout).id, ca.id, 'for A, "work" is still A\'s');
  t.equal((await a.run(['credentials', 'work', '--out', join(a.home, 'mine')])).code, 0, 'A gets credentials for their own');

  // The admin sees both with --all (and none as their own); a non-admin may not ask for all.
  t.same(json<ClusterJson[]>((await boss.run(['list', '--json'])).stdout), [], 'the admin has no cluster of their own');
  const all = json<ClusterJson[]>((await boss.run(['list', '--all', '--json'])).stdout);
  t.same(all.map((c) => [c.id, c.owner]), [[ca.id, arn('user', 'alice')], [cb.id, arn('user', 'bob')]], 'the admin sees both, with their owners');
  t.equal(json<ClusterJson>((await boss.run(['status', ca.id, '--json'])).stdout).id, ca.id, 'and may read A\'s');
  const bAll = await b.run(['list', '--all']);
  t.match(bAll, { code: 1, stderr: /only an admin of this broker lists every cluster/ }, 'B may not list all');
  t.match(await b.run(['access', 'list']), { code: 1, stderr: /only an admin of this broker may list access grants/ }, 'B may not manage access');

  // A third user, not granted: refused, naming their ARN and what to ask an admin.
  const c = await carol.run(['list']);
  t.equal(c.code, 1);
  t.match(c.stderr, `${arn('user', 'carol')} may not use skiff broker ${BROKER_ID}: no access grant covers it; ask an admin of this broker to run \`skiff access grant ${arn('user', 'carol')}\``);

  // An assumed-role session (a credential_process, as SSO helpers do) counts as its role.
  const dir = t.testdir();
  writeFileSync(join(dir, 'keys.json'), JSON.stringify(keys['dave']));
  writeFileSync(join(dir, 'config'), `[default]\nregion = us-east-1\ncredential_process = ${PYTHON} ${join(ROOT, 'test/integration/fixtures/assume_role_process.py')} ${moto.endpoint} ${arn('role', 'data-analysts')} ${join(dir, 'keys.json')} ${join(dir, 'sessions.jsonl')}\n`);
  const dave = person({ AWS_CONFIG_FILE: join(dir, 'config') });
  const before = await dave.run(['list']);
  t.match(before, { code: 1, stderr: new RegExp(`${arn('role', 'data-analysts')} may not use skiff broker`) }, 'refused as the role, not as the session');
  t.equal((await boss.run(['access', 'grant', `arn:aws:iam::${ACCOUNT}:role/data-*`])).code, 0, 'boss grants role/data-*');
  const after = await dave.run(['list', '--json']);
  t.equal(after.code, 0, `the role's session may use the broker: ${after.stderr}`);
  const cached = readdirSync(join(dave.home, 'auth'));
  t.equal(cached.length, 1, 'one sign-in kept');
  const file = join(dave.home, 'auth', cached[0] ?? '');
  t.equal(statSync(file).mode & 0o777, 0o600, 'kept 0600');
  t.match(json<{ principal: unknown }>(readFileSync(file, 'utf8')).principal, { id: arn('role', 'data-analysts'), person: 'analyst', admin: false }, 'principal: the role; person: the session name');
  t.equal((await boss.run(['access', 'revoke', `arn:aws:iam::${ACCOUNT}:role/data-*`])).code, 0, 'boss revokes it');
  t.match(await dave.run(['list']), { code: 1, stderr: /role\/data-analysts may not use skiff broker/ }, 'the kept token stops working with the grant');

  // The signature checks against the real broker and moto's STS.
  const alice = keys['alice'] as AwsKeys;
  const stsUrl = new URL(`${moto.endpoint}/`);
  const exchange = async (body: unknown) => {
    const res = await fetch(`${url}/v1/auth/aws`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; principal?: { id: string } } };
  };
  const forOther = await signIdentityRequest(alice, { brokerId: 'another-broker', region: 'us-east-1', stsUrl });
  t.match(await exchange(forOther), { status: 401, body: { error: { code: 'BRK_UNAUTHORIZED', message: /signed for broker "another-broker"/ } } }, 'a request signed for another broker is refused');
  const rewritten = { ...forOther, headers: { ...forOther.headers, 'x-skiff-broker-id': BROKER_ID } };
  t.match(await exchange(rewritten), { status: 401, body: { error: { code: 'BRK_UNAUTHORIZED', message: /STS refused the signed identity request/ } } }, 'rewritten for this broker, STS refuses its signature');
  const old = await signIdentityRequest(alice, { brokerId: BROKER_ID, region: 'us-east-1', stsUrl, signingDate: new Date(Date.now() - 10 * 60_000) });
  t.match(await exchange(old), { status: 401, body: { error: { code: 'BRK_UNAUTHORIZED', message: /a signature is good for 5 minutes/ } } }, 'an old signature is refused');
  const fresh = await signIdentityRequest(alice, { brokerId: BROKER_ID, region: 'us-east-1', stsUrl });
  t.match(await exchange(fresh), { status: 200, body: { principal: { id: arn('user', 'alice') } } }, 'a fresh one is accepted');
  t.match(await exchange(fresh), { status: 401, body: { error: { code: 'BRK_UNAUTHORIZED', message: /used before/ } } }, 'once');
  t.match(await exchange({ ...fresh, url: 'http://127.0.0.1:9/' }), { status: 401, body: { error: { message: /not this broker's STS endpoint/ } } }, 'a URL elsewhere is refused');
  t.match((await fetch(`${url}/v1/token`, { method: 'POST', headers: { authorization: 'Bearer anything' } })).status, 401, 'no API key is taken');

  // A stops their own.
  const down = await a.run(['down', 'work', '--json']);
  t.equal(json<ClusterJson>(down.stdout).state, 'stopped', `A stops their own: ${down.stderr}`);
  t.equal(json<ClusterJson>((await b.run(['status', 'work', '--json'])).stdout).state, 'running', 'B\'s is untouched');
});
