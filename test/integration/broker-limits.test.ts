// The broker faces whoever reaches its port (an aws broker is on the internet). Tried here as an attacker
// would: 1,500 slow unauthenticated bodies on the three routes that take machine credentials, slow headers,
// a trickled body with good credentials, one address opening more than its share, a `%ZZ` path, a deeply
// nested body and a 5,000-character path. Each is refused, the broker's memory stays bounded and comes
// back, and meanwhile the CLI and a real Dask client keep working.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeHome, daskSum } from '../helpers/skiff.js';
import { openSlowClients, rssMiB } from '../helpers/slow-clients.js';
import { until } from '../helpers/wait.js';
import { BROKER_MAX_CONNECTIONS_PER_ADDRESS } from '../../broker/api/limits.js';

interface UpJson {
  id: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

/** Growth the broker's RSS may show while 1,500 slow bodies are open (it was +1,051 MiB before the caps). */
const ATTACK_RSS_BOUND_MIB = 64;
/** What may stay once they are gone (allocator and heap slack). */
const AFTER_RSS_BOUND_MIB = 32;

t.test('the broker refuses what an attacker sends before reading it, stays bounded, and keeps serving', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '1', '--name', 'calm', '--json']);
  t.equal(up.code, 0, `up succeeds: ${up.stderr}`);
  const c = JSON.parse(up.stdout) as UpJson;
  const pid = h.brokerPid() as number;
  const { url } = JSON.parse(readFileSync(join(h.home, 'broker/broker.json'), 'utf8')) as { url: string };
  const port = Number(new URL(url).port);
  const apiKey = readFileSync(join(h.home, 'broker/api-key'), 'utf8').trim();
  const tokenRes = await fetch(`${url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });
  t.equal(tokenRes.status, 200, 'the API key as the bearer buys a user token');
  const userToken = ((await tokenRes.json()) as { token: string }).token;
  const wrongKey = await fetch(`${url}/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey }) });
  t.equal(wrongKey.status, 401, 'the key in a body is not read');

  await sleep(1000);
  const baseline = rssMiB(pid);

  // 1,500 bodies announced as 1 MiB, trickled 1 KiB every 200 ms, from three source addresses (500 each:
  // under the per-address cap, so every one reaches the HTTP layer).
  const routes = ['/v1/token', '/v1/enrol', '/v1/agent/events'];
  const auth = ['', 'Authorization: Bearer not.a.token\r\n', 'Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln\r\n'];
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 50);
  t.teardown(() => clearInterval(sampler));
  const attack = await openSlowClients({
    port, count: 1500, localAddress: (i) => `127.0.0.${2 + (i % 3)}`,
    first: (i) => `POST ${routes[i % 3]} HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\n${auth[Math.floor(i / 3) % 3]}Content-Length: 1048576\r\n\r\n{"token":"`,
    trickle: Buffer.alloc(1024, 'a'), trickleMs: 200,
  });
  t.teardown(() => attack.close());

  // Meanwhile: a slow-headers client, and a client with a good user token trickling its body.
  const slowHeaders = await openSlowClients({ port, count: 1, localAddress: () => '127.0.0.1', first: 'GET /v1/clusters HTTP/1.1\r\nHost: b', trickle: 'x', trickleMs: 500 });
  const slowBody = await openSlowClients({
    port, count: 1, localAddress: () => '127.0.0.1',
    first: `POST /v1/clusters HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${userToken}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
    trickle: ' ', trickleMs: 500,
  });
  t.teardown(() => {
    slowHeaders.close();
    slowBody.close();
  });

  const list = await h.run(['list', '--json'], { timeoutMs: 30_000 });
  t.equal(list.code, 0, `the CLI works during the attack: ${list.stderr}`);
  t.match(JSON.parse(list.stdout), [{ name: 'calm', state: 'running' }]);
  t.same(await daskSum(c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key), { ok: true, result: 4950 }, 'a Dask client computes during the attack');

  t.ok(await until(() => attack.clients.every((x) => x.answer !== ''), 20_000), 'every slow body was answered');
  const statuses = new Map<string, number>();
  for (const x of attack.clients) {
    const s = x.answer.slice(0, 12);
    statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  t.same([...statuses], [['HTTP/1.1 401', 1500]], 'all 1,500 were refused 401 from their headers alone');
  t.ok(await until(() => attack.open() === 0, 10_000), 'and their connections closed although they kept sending');
  const worst = Math.max(...attack.clients.map((x) => x.closedAfterMs ?? Infinity));
  t.ok(worst < 10_000, `the last one closed ${worst} ms after it opened`);

  t.ok(await until(() => slowHeaders.open() === 0 && slowBody.open() === 0, 25_000), 'the slow headers and the trickled body are cut off');
  const headersMs = slowHeaders.clients[0]?.closedAfterMs ?? Infinity;
  const bodyMs = slowBody.clients[0]?.closedAfterMs ?? Infinity;
  t.ok(headersMs < 14_000, `slow headers cut after ${headersMs} ms (headers timeout 10 s)`);
  t.ok(bodyMs < 20_000, `a trickled body cut after ${bodyMs} ms (request timeout 15 s; it was 300 s)`);
  t.match(slowBody.clients[0]?.answer ?? '', /^(HTTP\/1\.1 408|)/, 'answered 408 or closed');
  clearInterval(sampler);
  attack.close();

  await until(() => rssMiB(pid) < baseline + AFTER_RSS_BOUND_MIB, 20_000, 500);
  const after = rssMiB(pid);
  t.comment(`broker RSS: ${baseline.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB during 1,500 slow bodies (bound +${ATTACK_RSS_BOUND_MIB}), ${after.toFixed(0)} MiB after (bound +${AFTER_RSS_BOUND_MIB})`);
  t.ok(peak - baseline < ATTACK_RSS_BOUND_MIB, `RSS grew ${(peak - baseline).toFixed(0)} MiB during the attack`);
  t.ok(after - baseline < AFTER_RSS_BOUND_MIB, `RSS is ${(after - baseline).toFixed(0)} MiB over the baseline afterwards`);

  await t.test('one address gets at most its share of connections; others still get in', async (t) => {
    const extra = 100;
    const hog = await openSlowClients({ port, count: BROKER_MAX_CONNECTIONS_PER_ADDRESS + extra, localAddress: () => '127.0.0.9', first: '' });
    t.teardown(() => hog.close());
    t.ok(await until(() => hog.open() <= BROKER_MAX_CONNECTIONS_PER_ADDRESS, 5000), `at most ${BROKER_MAX_CONNECTIONS_PER_ADDRESS} stay open (${hog.open()})`);
    t.ok(hog.open() >= BROKER_MAX_CONNECTIONS_PER_ADDRESS - 10, `the address keeps its share (${hog.open()} open)`);
    const health = await fetch(`${url}/v1/health`);
    t.equal(health.status, 200, 'a client from another address is served');
    t.ok(await until(() => hog.open() === 0, 15_000), 'idle connections are closed by the headers timeout');
  });

  await t.test('malformed input is a 400 with a message, and what is echoed is cut short', async (t) => {
    const authz = { authorization: `Bearer ${userToken}` };
    const bad = await fetch(`${url}/v1/clusters/%ZZ`, { headers: authz });
    t.equal(bad.status, 400, '%ZZ is a bad request');
    t.match(await bad.json(), { error: { code: 'BRK_BAD_REQUEST', message: /percent-encoding/ } });
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    const nested = await fetch(`${url}/v1/clusters`, { method: 'POST', headers: { ...authz, 'content-type': 'application/json' }, body: deep });
    t.equal(nested.status, 400, 'a deeply nested body is a bad request');
    t.match(await nested.json(), { error: { code: 'BRK_BAD_REQUEST', message: /nests 50000 levels deep/ } });
    const big = await fetch(`${url}/v1/clusters`, { method: 'POST', headers: { ...authz, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(300_000) }) });
    t.equal(big.status, 400, 'a body over the route cap is refused');
    const long = await fetch(`${url}/v1/${'a'.repeat(5000)}`);
    const body = (await long.json()) as { error: { message: string } };
    t.equal(long.status, 404);
    t.ok(body.error.message.length < 200, `the path is echoed cut short (${body.error.message.length} characters)`);
    const missing = await fetch(`${url}/v1/clusters/${'b'.repeat(3000)}`, { headers: authz });
    const m = (await missing.json()) as { error: { message: string } };
    t.ok(m.error.message.length < 300, `a cluster name is echoed cut short (${m.error.message.length} characters)`);
    const status = await h.run(['status', 'calm', '--json']);
    t.equal(status.code, 0, 'the CLI still works');
  });
});
