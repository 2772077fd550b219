// Signing in to an aws-iam broker, with fixtures signed by the CLI's own signer with known keys and a fake STS
// that checks signatures as STS does: which signed requests the broker forwards, which it refuses before
// anything is sent, and what it answers.
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { createAwsIamAuth } from '../../../../broker/auth/aws-iam.js';
import { checkSignedRequest } from '../../../../broker/auth/signed-request.js';
import { createReplayCache } from '../../../../broker/auth/replay-cache.js';
import { createTokenIssuer } from '../../../../broker/tokens/issuer.js';
import { signIdentityRequest, type AwsKeys } from '../../../../broker/cli/aws-login.js';
import type { AccessGrant } from '../../../../broker/store/store.js';
import type { AwsAuthRequest } from '../../../../broker/api/auth.js';
import { isSkiffError } from '../../../../broker/api/errors.js';
import { fakeSts } from '../../../helpers/fake-sts.js';

const ACCOUNT = '123456789012';
const STS = new URL('https://sts.eu-west-1.amazonaws.com/');
const REGION = 'eu-west-1';
const NOW = new Date('2026-12-07T12:00:00Z');
const alice: AwsKeys = { accessKeyId: 'AKIDALICEEXAMPLE', secretAccessKey: 'alice-secret-key-example' };
const bob: AwsKeys = { accessKeyId: 'AKIDBOBEXAMPLE', secretAccessKey: 'bob-secret-key-example' };
const role: AwsKeys = { accessKeyId: 'ASIAROLEEXAMPLE', secretAccessKey: 'role-secret-key-example' };
const other: AwsKeys = { accessKeyId: 'AKIDOTHEREXAMPLE', secretAccessKey: 'other-secret-key-example' };

function memoryGrants(initial: AccessGrant[]) {
  const grants = new Map(initial.map((g) => [g.pattern, g]));
  return {
    accessGrants: () => Promise.resolve([...grants.values()]),
    putAccessGrant: (g: AccessGrant) => Promise.resolve(void grants.set(g.pattern, g)),
    deleteAccessGrant: (p: string) => Promise.resolve(grants.delete(p)),
  };
}

function broker(brokerId: string, o: { now?: () => Date } = {}) {
  const sts = fakeSts([
    { ...alice, arn: `arn:aws:iam::${ACCOUNT}:user/team/alice`, account: ACCOUNT },
    { ...bob, arn: `arn:aws:iam::${ACCOUNT}:user/bob`, account: ACCOUNT },
    { ...role, arn: `arn:aws:sts::${ACCOUNT}:assumed-role/data-analysts/dave@example.com`, account: ACCOUNT },
    { ...other, arn: 'arn:aws:iam::999999999999:user/mallory', account: '999999999999' },
  ]);
  const store = memoryGrants([
    { pattern: `arn:aws:iam::${ACCOUNT}:user/team/alice`, admin: true, grantedBy: 'skiff broker --admin', grantedAt: NOW.toISOString() },
    { pattern: `arn:aws:iam::${ACCOUNT}:role/data-*`, admin: false, grantedBy: 'test', grantedAt: NOW.toISOString() },
  ]);
  const tokens = createTokenIssuer({ now: o.now ?? (() => NOW) });
  const auth = createAwsIamAuth({
    brokerId, account: ACCOUNT, stsRegion: REGION, stsUrl: STS, store, tokens, log: pino({ level: 'silent' }), now: o.now ?? (() => NOW), sendToSts: sts.send, grantCacheMs: 0,
  });
  return { auth, sts, store, tokens };
}

const sign = (keys: AwsKeys, brokerId: string, at = NOW, stsUrl = STS) => signIdentityRequest(keys, { brokerId, region: REGION, stsUrl, signingDate: at });

async function refused(t: Test, p: Promise<unknown>, code: string, message: RegExp, what: string) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  t.ok(isSkiffError(err), `${what}: refused`);
  t.match(err, { code, message }, what);
}

t.test('a fresh request signed for this broker buys a user token for its principal', async (t) => {
  const b = broker('broker-x');
  const res = await b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x'));
  t.same(res.principal, { id: `arn:aws:iam::${ACCOUNT}:user/team/alice`, person: 'alice', account: ACCOUNT, admin: true });
  t.equal(res.expiresInS, 3600);
  t.equal(res.expiresAt, new Date(NOW.getTime() + 3600_000).toISOString());
  const v = await b.tokens.verify('user', res.token);
  t.equal(v.sub, `arn:aws:iam::${ACCOUNT}:user/team/alice`, 'the token\'s sub is the principal id');
  t.match(v.claims, { person: 'alice', admin: true, auth: 'aws-iam', broker: 'broker-x' });
  t.same(await b.auth.principal(res.token), { id: `arn:aws:iam::${ACCOUNT}:user/team/alice`, person: 'alice', account: ACCOUNT, admin: true });
  t.equal(b.sts.received.length, 1, 'one call to STS');
  const sent = b.sts.received[0]!;
  t.equal(sent.url, STS.href, 'sent to the broker\'s own STS endpoint');
  t.equal(sent.body, 'Action=GetCallerIdentity&Version=2011-06-15');
  t.equal(sent.headers['x-skiff-broker-id'], 'broker-x');
  t.equal(sent.headers['host'], 'sts.eu-west-1.amazonaws.com');
});

t.test('an assumed-role session counts as its role, with the session name as the person', async (t) => {
  const b = broker('broker-x');
  const res = await b.auth.exchangeAwsIdentity(await sign({ ...role, sessionToken: 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN' }, 'broker-x'));
  t.same(res.principal, { id: `arn:aws:iam::${ACCOUNT}:role/data-analysts`, person: 'dave@example.com', account: ACCOUNT, admin: false }, 'matched by the role/data-* grant');
  t.equal(b.sts.received[0]?.headers['x-amz-security-token'], 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN', 'the session token is forwarded');
});

t.test('a request captured for broker X is refused by broker Y, before STS is asked', async (t) => {
  const forX = await sign(alice, 'broker-x');
  const y = broker('broker-y');
  await refused(t, y.auth.exchangeAwsIdentity(forX), 'BRK_UNAUTHORIZED', /signed for broker "broker-x", and this is broker "broker-y"/, 'replayed to Y');
  t.equal(y.sts.received.length, 0, 'nothing sent to STS');
  // Rewriting the header to Y's id passes the broker's check, and STS refuses the signature, which covers it.
  const rewritten: AwsAuthRequest = { ...forX, headers: { ...forX.headers, 'x-skiff-broker-id': 'broker-y' } };
  await refused(t, y.auth.exchangeAwsIdentity(rewritten), 'BRK_UNAUTHORIZED', /STS refused the signed identity request: SignatureDoesNotMatch/, 'rewritten for Y');
});

t.test('an old or future X-Amz-Date is refused; within 5 minutes either way is accepted', async (t) => {
  const b = broker('broker-x');
  await refused(t, b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x', new Date(NOW.getTime() - 5 * 60_000 - 1000))), 'BRK_UNAUTHORIZED', /signed at 20261207T115459Z, 301 s ago; a signature is good for 5 minutes/, 'five minutes and a second old');
  await refused(t, b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x', new Date(NOW.getTime() + 6 * 60_000))), 'BRK_UNAUTHORIZED', /ahead of the broker's clock/, 'six minutes ahead');
  t.equal(b.sts.received.length, 0, 'nothing sent to STS');
  t.ok((await b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x', new Date(NOW.getTime() - 4 * 60_000)))).token, 'four minutes old is fine');
  t.ok((await b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x', new Date(NOW.getTime() + 4 * 60_000)))).token, 'four minutes ahead is fine');
});

t.test('each signature is accepted once', async (t) => {
  const b = broker('broker-x');
  const req = await sign(alice, 'broker-x');
  t.ok((await b.auth.exchangeAwsIdentity(req)).token, 'first use');
  await refused(t, b.auth.exchangeAwsIdentity(req), 'BRK_UNAUTHORIZED', /this signature was used before/, 'second use');
  t.equal(b.sts.received.length, 1, 'the replay never reached STS');
});

t.test('two sign-ins in the same second (two commands at once) are two signatures, both accepted', async (t) => {
  const b = broker('broker-x');
  const [one, two] = [await sign(alice, 'broker-x'), await sign(alice, 'broker-x')];
  t.not(one.headers['authorization'], two.headers['authorization'], 'a random signed header makes each its own');
  t.ok((await b.auth.exchangeAwsIdentity(one)).token, 'first');
  t.ok((await b.auth.exchangeAwsIdentity(two)).token, 'second, signed at the same second');
});

t.test('a host that is not the broker\'s STS endpoint is refused, whatever URL the client names', async (t) => {
  const b = broker('broker-x');
  const elsewhere = new URL('https://attacker.example.com/');
  await refused(t, b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x', NOW, elsewhere)), 'BRK_UNAUTHORIZED', /url "https:\/\/attacker\.example\.com\/" is not this broker's STS endpoint/, 'signed for another host');
  const good = await sign(alice, 'broker-x');
  await refused(t, b.auth.exchangeAwsIdentity({ ...good, url: 'http://169.254.169.254/' }), 'BRK_UNAUTHORIZED', /is not this broker's STS endpoint/, 'the metadata service as URL');
  await refused(t, b.auth.exchangeAwsIdentity({ ...good, headers: { ...good.headers, host: 'sts.us-east-1.amazonaws.com' } }), 'BRK_UNAUTHORIZED', /host "sts\.us-east-1\.amazonaws\.com" is not this broker's STS endpoint sts\.eu-west-1\.amazonaws\.com/, 'another host header');
  await refused(t, b.auth.exchangeAwsIdentity({ ...good, url: `${STS.origin}/?Action=AssumeRole` }), 'BRK_UNAUTHORIZED', /is not this broker's STS endpoint/, 'a query');
  t.equal(b.sts.received.length, 0, 'nothing sent anywhere');
});

t.test('an x-skiff-broker-id header the signature does not cover is refused', async (t) => {
  const b = broker('broker-x');
  // Signed without the header, which is then added: it proves nothing.
  const signed = await signIdentityRequest(alice, { brokerId: 'broker-x', region: REGION, stsUrl: STS, signingDate: NOW });
  const auth = signed.headers['authorization']!.replace(/SignedHeaders=([^,]+)/, (_m, list: string) => `SignedHeaders=${list.split(';').filter((h) => h !== 'x-skiff-broker-id').join(';')}`);
  await refused(t, b.auth.exchangeAwsIdentity({ ...signed, headers: { ...signed.headers, authorization: auth } }), 'BRK_UNAUTHORIZED', /does not cover the x-skiff-broker-id header/, 'unsigned broker id');
  const { 'x-skiff-broker-id': _dropped, ...without } = signed.headers;
  await refused(t, b.auth.exchangeAwsIdentity({ ...signed, headers: without }), 'BRK_UNAUTHORIZED', /signed header x-skiff-broker-id is missing/, 'no broker id header at all');
  t.equal(b.sts.received.length, 0);
});

t.test('only GetCallerIdentity is forwarded', async (t) => {
  const b = broker('broker-x');
  const good = await sign(alice, 'broker-x');
  await refused(t, b.auth.exchangeAwsIdentity({ ...good, body: 'Action=AssumeRole&Version=2011-06-15&RoleArn=x' }), 'BRK_UNAUTHORIZED', /the body must be exactly Action=GetCallerIdentity/, 'another action');
  await refused(t, b.auth.exchangeAwsIdentity({ ...good, method: 'GET' }), 'BRK_UNAUTHORIZED', /method must be POST/, 'GET');
  await refused(t, b.auth.exchangeAwsIdentity('not an object'), 'BRK_UNAUTHORIZED', /must be a JSON object/, 'garbage');
  await refused(t, b.auth.exchangeAwsIdentity({ ...good, headers: { ...good.headers, authorization: 'Bearer abc' } }), 'BRK_UNAUTHORIZED', /no AWS4-HMAC-SHA256 Authorization header/, 'no SigV4');
  t.equal(b.sts.received.length, 0);
});

t.test('a principal no grant covers is refused naming its ARN and the command an admin runs', async (t) => {
  const b = broker('broker-x');
  await refused(t, b.auth.exchangeAwsIdentity(await sign(bob, 'broker-x')), 'BRK_FORBIDDEN',
    /^arn:aws:iam::123456789012:user\/bob may not use skiff broker broker-x: no access grant covers it; ask an admin of this broker to run `skiff access grant arn:aws:iam::123456789012:user\/bob`$/, 'bob');
});

t.test('a caller of another account is refused naming both accounts', async (t) => {
  const b = broker('broker-x');
  await refused(t, b.auth.exchangeAwsIdentity(await sign(other, 'broker-x')), 'BRK_FORBIDDEN', /arn:aws:iam::999999999999:user\/mallory is of AWS account 999999999999, and broker broker-x serves account 123456789012/, 'mallory');
});

t.test('grants are checked again on every request: a revoke ends a token at once', async (t) => {
  const b = broker('broker-x');
  const admin = await b.auth.exchangeAwsIdentity(await sign(alice, 'broker-x'));
  const granted = await b.auth.grant(admin.principal, `arn:aws:iam::${ACCOUNT}:user/bob`, false);
  t.match(granted, { pattern: `arn:aws:iam::${ACCOUNT}:user/bob`, admin: false, grantedBy: admin.principal.id });
  const bobs = await b.auth.exchangeAwsIdentity(await sign(bob, 'broker-x'));
  t.same(await b.auth.principal(bobs.token), { id: `arn:aws:iam::${ACCOUNT}:user/bob`, person: 'bob', account: ACCOUNT, admin: false });
  await refused(t, b.auth.listGrants(bobs.principal), 'BRK_FORBIDDEN', /only an admin of this broker may list access grants/, 'bob lists grants');
  await refused(t, b.auth.grant(bobs.principal, `arn:aws:iam::${ACCOUNT}:user/carol`, true), 'BRK_FORBIDDEN', /only an admin/, 'bob grants');
  await b.auth.revoke(admin.principal, `arn:aws:iam::${ACCOUNT}:user/bob`);
  await refused(t, b.auth.principal(bobs.token), 'BRK_FORBIDDEN', /user\/bob may not use skiff broker broker-x/, 'bob\'s token after the revoke');
  await refused(t, b.auth.revoke(admin.principal, `arn:aws:iam::${ACCOUNT}:user/team/alice`), 'BRK_CONFLICT', /the last admin grant/, 'the last admin');
  await refused(t, b.auth.grant(admin.principal, 'arn:aws:iam::999999999999:user/x', false), 'BRK_BAD_REQUEST', /in account 999999999999, and this broker serves account 123456789012/, 'another account');
  await refused(t, b.auth.grant(admin.principal, `arn:aws:sts::${ACCOUNT}:assumed-role/data-analysts/dave`, false), 'BRK_BAD_REQUEST', /grant its role instead, arn:aws:iam::123456789012:role\/data-analysts/, 'a session ARN');
  await refused(t, b.auth.grant(admin.principal, `arn:aws:iam::${ACCOUNT}:role/*-admins`, false), 'BRK_BAD_REQUEST', /not an IAM user or role ARN/, 'a * not at the end');
  t.same((await b.auth.listGrants(admin.principal)).map((g) => g.pattern), [`arn:aws:iam::${ACCOUNT}:role/data-*`, `arn:aws:iam::${ACCOUNT}:user/team/alice`]);
});

t.test('a token of another broker, or of the API-key mode, is not a principal here', async (t) => {
  const x = broker('broker-x');
  const apiKeyToken = await x.tokens.mint('user', { sub: 'local', auth: 'api-key' }, 60);
  await refused(t, x.auth.principal(apiKeyToken), 'BRK_TOKEN_INVALID', /not issued by broker broker-x for an AWS identity/, 'an API-key token');
});

t.test('the replay cache is bounded: full of live signatures, it refuses rather than forgets', async (t) => {
  const cache = createReplayCache({ maxEntries: 2 });
  const at = NOW.getTime();
  t.ok(cache.firstUse('a', at, at));
  t.ok(cache.firstUse('b', at, at));
  t.notOk(cache.firstUse('a', at, at), 'a again');
  t.throws(() => cache.firstUse('c', at, at + 1000), { code: 'BRK_NOT_READY' }, 'full of live ones');
  t.ok(cache.firstUse('c', at + 10 * 60_000, at + 10 * 60_000 + 1), 'the old ones are forgotten once past their window');
  t.equal(cache.size, 1);
});

t.test('the checks name the signed date and scope: a scope of another region or service is refused', async (t) => {
  const req = await signIdentityRequest(alice, { brokerId: 'broker-x', region: 'us-east-1', stsUrl: STS, signingDate: NOW });
  t.throws(() => checkSignedRequest(req, { brokerId: 'broker-x', stsUrl: STS, stsRegion: REGION, nowMs: NOW.getTime() }), { code: 'BRK_UNAUTHORIZED', message: /signed for region us-east-1; this broker's STS is in eu-west-1/ });
  const ok = checkSignedRequest(await sign(alice, 'broker-x'), { brokerId: 'broker-x', stsUrl: STS, stsRegion: REGION, nowMs: NOW.getTime() });
  t.equal(ok.accessKeyId, alice.accessKeyId);
  t.equal(ok.signedAtMs, NOW.getTime());
  t.same(Object.keys(ok.headers).sort(), ['authorization', 'content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-skiff-broker-id', 'x-skiff-nonce'], 'only the signed headers and the signature are forwarded');
});
