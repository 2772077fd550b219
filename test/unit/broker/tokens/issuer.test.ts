// Tokens: one audience per kind, short-lived, bound to a cluster, signed by a key that survives restarts.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createTokenIssuer } from '../../../../broker/tokens/issuer.js';
import { PRIVATE_KEY_FILE } from '../../../../broker/tokens/key-store.js';
import { createTokenVerifier } from '../../../../broker/api/token-verifier.js';

const T0 = new Date('2030-06-01T12:00:00Z');

function clock(start: Date): { now: () => Date; advanceSeconds: (s: number) => void } {
  let ms = start.getTime();
  return { now: () => new Date(ms), advanceSeconds: (s) => (ms += s * 1000) };
}

void t.test('a minted token verifies for its kind with its claims, a fresh jti, iat and exp', async (t) => {
  const c = clock(T0);
  const issuer = createTokenIssuer({ now: c.now });
  const token = await issuer.mint('enrol', { sub: 'i-0abc', cluster: 'cl-1', role: 'worker', machine: 'worker-2' }, 600);
  const v = await issuer.verify('enrol', token, { cluster: 'cl-1' });
  t.equal(v.kind, 'enrol');
  t.equal(v.sub, 'i-0abc');
  t.equal(v.cluster, 'cl-1');
  t.equal(v.role, 'worker');
  t.equal(v.claims['machine'], 'worker-2');
  t.equal(v.claims['iss'], 'skiff-broker');
  t.equal(v.claims['aud'], 'skiff:enrol');
  t.equal(v.issuedAt.toISOString(), T0.toISOString());
  t.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 600_000);
  const again = await issuer.verify('enrol', await issuer.mint('enrol', { sub: 'i-0abc', cluster: 'cl-1' }, 600));
  t.not(again.jti, v.jti, 'every token has its own jti');
});

void t.test('a token of one kind is refused as every other kind', async (t) => {
  const issuer = createTokenIssuer();
  const kinds = ['enrol', 'agent', 'user', 'dashboard'] as const;
  for (const minted of kinds) {
    const token = await issuer.mint(minted, { sub: 's' }, 60);
    for (const asked of kinds) {
      if (asked === minted) continue;
      await t.rejects(issuer.verify(asked, token), { code: 'BRK_TOKEN_INVALID', message: new RegExp(`not a ${asked} token.*skiff:${minted}`) }, `${minted} refused as ${asked}`);
    }
  }
});

void t.test('an expired token is refused, after the clock tolerance', async (t) => {
  const c = clock(T0);
  const issuer = createTokenIssuer({ now: c.now, clockToleranceSeconds: 5 });
  const token = await issuer.mint('dashboard', { sub: 'alice', cluster: 'cl-1' }, 60);
  c.advanceSeconds(64);
  t.equal((await issuer.verify('dashboard', token)).sub, 'alice', 'still accepted within the tolerance');
  c.advanceSeconds(2);
  await t.rejects(issuer.verify('dashboard', token), { code: 'BRK_TOKEN_INVALID', message: /dashboard token expired at 2030-06-01T12:01:00.000Z/ });
});

void t.test("a token for another cluster is refused when the caller names its cluster", async (t) => {
  const issuer = createTokenIssuer();
  const token = await issuer.mint('user', { sub: 'alice', cluster: 'cl-a' }, 60);
  await t.rejects(issuer.verify('user', token, { cluster: 'cl-b' }), { code: 'BRK_TOKEN_INVALID', message: /another cluster, not cl-b/ });
  const noCluster = await issuer.mint('user', { sub: 'alice' }, 60);
  await t.rejects(issuer.verify('user', noCluster, { cluster: 'cl-b' }), { code: 'BRK_TOKEN_INVALID', message: /another cluster/ });
});

void t.test('a tampered token or one signed by another broker is refused', async (t) => {
  const issuer = createTokenIssuer();
  const token = await issuer.mint('agent', { sub: 'm1', cluster: 'cl-1', role: 'worker' }, 60);
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
  payload['role'] = 'scheduler';
  const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
  await t.rejects(issuer.verify('agent', forged), { code: 'BRK_TOKEN_INVALID', message: /signature does not verify/ });

  const other = createTokenIssuer();
  await t.rejects(issuer.verify('agent', await other.mint('agent', { sub: 'm1' }, 60)), { code: 'BRK_TOKEN_INVALID', message: /signature does not verify/ });
});

void t.test('a token from another issuer name or in a broken format is refused with distinct messages', async (t) => {
  const issuer = createTokenIssuer();
  const stranger = createTokenIssuer({ issuer: 'someone-else' });
  const verifier = createTokenVerifier(stranger.publicJwk);
  await t.rejects(verifier.verify('user', await stranger.mint('user', { sub: 'x' }, 60)), { code: 'BRK_TOKEN_INVALID', message: /not issued by this broker/ });
  await t.rejects(issuer.verify('user', 'not.a.jwt'), { code: 'BRK_TOKEN_INVALID', message: /malformed/ });
  await t.rejects(issuer.verify('user', ''), { code: 'BRK_TOKEN_INVALID', message: /no user token/ });
  await t.rejects(issuer.verify('user', 'x'.repeat(10_000)), { code: 'BRK_TOKEN_INVALID', message: /longer than any skiff token/ });
});

void t.test('refusal messages never contain the token', async (t) => {
  const c = clock(T0);
  const issuer = createTokenIssuer({ now: c.now });
  const token = await issuer.mint('enrol', { sub: 'i-1', cluster: 'cl-1' }, 60);
  const [h, p, sig] = token.split('.') as [string, string, string];
  const flipped = `${h}.${p}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
  const attempts: Array<() => Promise<unknown>> = [
    () => issuer.verify('user', token),
    () => issuer.verify('enrol', token, { cluster: 'cl-2' }),
    () => issuer.verify('enrol', flipped),
    () => issuer.verify('enrol', `${h}.${p}`),
    () => createTokenVerifier(issuer.publicJwk, { issuer: 'other' }).verify('enrol', token),
    () => {
      c.advanceSeconds(3600);
      return issuer.verify('enrol', token);
    },
  ];
  const messages = new Set<string>();
  for (const attempt of attempts) {
    const err = await attempt().then(() => undefined, (e: unknown) => e as Error & { code?: string });
    t.equal(err?.code, 'BRK_TOKEN_INVALID', 'refused');
    t.notOk(err?.message.includes(sig), 'no signature in the message');
    t.notOk(err?.message.includes(p), 'no payload in the message');
    messages.add(err?.message ?? '');
  }
  t.equal(messages.size, attempts.length, 'each failure has its own message');
});

void t.test('minting refuses bad kinds, TTLs and claims the issuer owns', async (t) => {
  const issuer = createTokenIssuer();
  await t.rejects(issuer.mint('user', { sub: 'a' }, 0), { code: 'BRK_BAD_REQUEST' });
  await t.rejects(issuer.mint('user', { sub: 'a' }, 1.5), { code: 'BRK_BAD_REQUEST' });
  await t.rejects(issuer.mint('user', { sub: '' }, 60), { code: 'BRK_BAD_REQUEST' });
  await t.rejects(issuer.mint('user', { sub: 'a', exp: 1 }, 60), { code: 'BRK_BAD_REQUEST', message: /exp/ });
  await t.rejects(issuer.mint('root' as 'user', { sub: 'a' }, 60), { code: 'BRK_BAD_REQUEST' });
});

void t.test('the agent-side verifier accepts tokens checked against the published public key', async (t) => {
  const c = clock(T0);
  const issuer = createTokenIssuer({ now: c.now });
  t.notOk('d' in issuer.publicJwk, 'the public JWK has no private part');
  const wire = JSON.parse(JSON.stringify(issuer.publicJwk)) as Record<string, unknown>;
  const verifier = createTokenVerifier(wire, { now: c.now });
  const token = await issuer.mint('dashboard', { sub: 'alice', cluster: 'cl-9' }, 300);
  t.equal((await verifier.verify('dashboard', token, { cluster: 'cl-9' })).sub, 'alice');
  c.advanceSeconds(400);
  await t.rejects(verifier.verify('dashboard', token), { code: 'BRK_TOKEN_INVALID', message: /expired/ });
  t.throws(() => createTokenVerifier({ kty: 'oct', k: 'AAAA' }), { code: 'BRK_TOKEN_INVALID' });
});

void t.test('the signing key persists in keyDir: tokens minted before a restart verify after it', async (t) => {
  const dir = join(t.testdir({}), 'keys');
  const before = createTokenIssuer({ keyDir: dir });
  const token = await before.mint('user', { sub: 'alice' }, 3600);
  const after = createTokenIssuer({ keyDir: dir });
  t.same(after.publicJwk, before.publicJwk);
  t.equal((await after.verify('user', token)).sub, 'alice');
  t.equal(statSync(dir).mode & 0o777, 0o700, 'key directory is 0700');
  for (const f of readdirSync(dir)) {
    t.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  const privateJwk = JSON.parse(readFileSync(join(dir, PRIVATE_KEY_FILE), 'utf8')) as Record<string, unknown>;
  t.equal(privateJwk['crv'], 'P-256');
  const fromJwk = createTokenIssuer({ privateJwk });
  t.equal((await fromJwk.verify('user', token)).sub, 'alice', 'the saved JWK works as privateJwk too');
});

void t.test('a corrupt key file is reported, not silently replaced', (t) => {
  const dir = t.testdir({ [PRIVATE_KEY_FILE]: '{not json' });
  t.throws(() => createTokenIssuer({ keyDir: dir }), { code: 'BRK_STORE_CORRUPT', message: /delete it to make a new key/ });
  writeFileSync(join(dir, PRIVATE_KEY_FILE), JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }));
  t.throws(() => createTokenIssuer({ keyDir: dir }), { code: 'BRK_STORE_CORRUPT' });
  t.end();
});
