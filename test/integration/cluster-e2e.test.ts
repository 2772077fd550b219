// The walking skeleton as a user meets it: `skiff up` on the local backend, a real Dask client through
// the gateway with broker-minted certificates, everything that must be refused refused, the broker
// killed and restarted, and `skiff down` leaving no process behind.
import t from 'tap';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { request, type RequestOptions } from 'node:https';
import { makeHome, daskSum, DASK_PYTHON } from '../helpers/skiff.js';
import { tlsProbe } from '../helpers/tls-probe.js';
import { createKeyAndCsr } from '../../broker/api/csr.js';
import { loadCaSigner } from '../../broker/pki/ca.js';
import { signCsr } from '../../broker/pki/sign.js';

interface UpJson {
  id: string;
  name: string;
  state: string;
  scheduler: string;
  dashboard: string;
  credentials: { ca: string; cert: string; key: string };
}

const portOf = (address: string) => Number(address.split(':').at(-1));

function httpsGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      // A browser offers ALPN; without it the gateway would treat this as a Dask client.
      { host: '127.0.0.1', port, path, method: 'GET', headers, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], timeout: 10_000 } as RequestOptions,
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function enrolAttempt(brokerUrl: string, body: Record<string, string>): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${brokerUrl}/v1/enrol`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${body['token'] ?? ''}` }, body: JSON.stringify(body) });
  const json = (await res.json()) as { error?: { code: string } };
  return { status: res.status, ...(json.error ? { code: json.error.code } : {}) };
}

t.test('skiff up gives a working, locked-down local Dask cluster and skiff down leaves nothing', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());

  const upA = await h.run(['up', '--workers', '2', '--name', 'alpha', '--json']);
  t.equal(upA.code, 0, `up succeeds: ${upA.stderr}`);
  const a = JSON.parse(upA.stdout) as UpJson;
  t.match(a, { name: 'alpha', state: 'running', scheduler: /^tls:\/\/127\.0\.0\.1:\d+$/, dashboard: /^https:\/\/127\.0\.0\.1:\d+\/\?token=/ });
  for (const f of [a.credentials.key, a.credentials.cert]) t.equal(statSync(f).mode & 0o777, 0o600, `${f} is private`);
  t.match(upA.stderr, /running/, 'progress was shown');

  // A second cluster, created the way a new user reads the output (text, not JSON).
  const upB = await h.run(['up', '--workers', '1', '--name', 'beta']);
  t.equal(upB.code, 0, `second up succeeds: ${upB.stderr}`);
  const snippet = /Connect from Python:\n\n([\s\S]*?)\n\nStop it with/.exec(upB.stdout)?.[1];
  t.ok(snippet, 'the text output carries a Python snippet');
  const b = JSON.parse((await h.run(['status', 'beta', '--json'])).stdout) as { id: string; scheduler: string; dashboard: string };

  await t.test('the printed snippet and the JSON credentials both compute on the cluster through the gateway', async (t) => {
    const r = await daskSum(a.scheduler, a.credentials.ca, a.credentials.cert, a.credentials.key);
    t.same(r, { ok: true, result: 4950 });
    const script = join(h.home, 'snippet.py');
    writeFileSync(script, `${snippet}\nprint(client.submit(sum, range(100)).result())\nclient.close()\n`);
    const out = await new Promise<string>((resolve) => execFile(DASK_PYTHON, [script], { timeout: 60_000 }, (_e, stdout) => resolve(stdout)));
    t.equal(out.trim(), '4950', 'the snippet printed by `skiff up` works as pasted');
  });

  const credsB = join(h.home, 'beta-creds');
  t.equal((await h.run(['credentials', 'beta', '--out', credsB])).code, 0, 'credentials for beta');
  const gwA = portOf(a.scheduler);
  const caA = readFileSync(a.credentials.ca, 'utf8');

  await t.test('the scheduler refuses clients without a certificate of its own cluster', async (t) => {
    t.match(await tlsProbe(gwA, { ca: caA }), /^error:ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED$|^closed$|^error:ECONNRESET$/, 'no certificate: refused');
    const other = await daskSum(a.scheduler, a.credentials.ca, join(credsB, 'client.pem'), join(credsB, 'client-key.pem'), 5);
    t.equal(other.ok, false, `a certificate from another cluster's CA is refused (${other.error})`);
    t.match(
      await tlsProbe(gwA, { ca: caA, cert: readFileSync(join(credsB, 'client.pem'), 'utf8'), key: readFileSync(join(credsB, 'client-key.pem'), 'utf8') }),
      /UNKNOWN_CA|closed|ECONNRESET/,
      'the TLS layer names the reason',
    );
  });

  await t.test('an expired certificate from the right CA is refused', async (t) => {
    const signer = loadCaSigner({
      certPem: readFileSync(join(h.home, 'broker/ca', `${a.id}.pem`), 'utf8'),
      keyPem: readFileSync(join(h.home, 'broker/ca', `${a.id}.key`), 'utf8'),
    });
    const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'late user' });
    const day = 24 * 3600_000;
    const cert = signCsr(signer, { csrPem, profile: 'user', commonName: 'late', sans: { ips: [], dns: [] }, notBefore: new Date(Date.now() - 3 * day), validityMs: day });
    const dir = join(h.home, 'expired');
    mkdirSync(dir);
    writeFileSync(join(dir, 'c.pem'), cert.certPem);
    writeFileSync(join(dir, 'k.pem'), keyPem, { mode: 0o600 });
    const r = await daskSum(a.scheduler, a.credentials.ca, join(dir, 'c.pem'), join(dir, 'k.pem'), 5);
    t.equal(r.ok, false, `expired certificate refused (${r.error})`);
    t.match(await tlsProbe(gwA, { ca: caA, cert: cert.certPem, key: keyPem }), /EXPIRED|closed|ECONNRESET/);
    // The same CA's valid certificate still works: the refusal was about expiry, not the CA.
    t.same(await daskSum(a.scheduler, a.credentials.ca, a.credentials.cert, a.credentials.key), { ok: true, result: 4950 });
  });

  await t.test('enrol tokens are single-use per machine and bound to their cluster', async (t) => {
    const brokerUrl = (JSON.parse(readFileSync(join(h.home, 'broker/broker.json'), 'utf8')) as { url: string }).url;
    const agentA = JSON.parse(readFileSync(join(h.home, 'machines', a.id, 'worker-1', 'agent.json'), 'utf8')) as { enrolToken: string };
    const { csrPem } = await createKeyAndCsr({ commonName: 'intruder' });
    t.match(await enrolAttempt(brokerUrl, { token: agentA.enrolToken, clusterId: a.id, machineId: 'worker-1', csrPem }), { status: 409, code: 'BRK_ALREADY_ENROLLED' }, 'used twice');
    t.match(await enrolAttempt(brokerUrl, { token: agentA.enrolToken, clusterId: b.id, machineId: 'scheduler', csrPem }), { status: 403, code: 'BRK_FORBIDDEN' }, 'for another cluster');
    t.match(await enrolAttempt(brokerUrl, { token: agentA.enrolToken, clusterId: a.id, machineId: 'worker-9', csrPem }), { status: 403, code: 'BRK_FORBIDDEN' }, 'for a machine the cluster does not have');
    t.match(await enrolAttempt(brokerUrl, { token: 'not.a.token', clusterId: a.id, machineId: 'worker-1', csrPem }), { status: 401, code: 'BRK_TOKEN_INVALID' }, 'garbage token');
  });

  await t.test('the dashboard needs this cluster\'s dashboard token', async (t) => {
    t.equal((await httpsGet(gwA, '/health')).status, 401, 'no token: 401');
    const tokenB = new URL(b.dashboard).searchParams.get('token') ?? '';
    t.equal((await httpsGet(gwA, `/health?token=${tokenB}`)).status, 401, "another cluster's token: 401");
    const tokenA = new URL(a.dashboard).searchParams.get('token') ?? '';
    const first = await httpsGet(gwA, `/health?token=${tokenA}`);
    t.equal(first.status, 302, 'a valid token is swapped for a cookie');
    const cookie = String(first.headers['set-cookie'] ?? '');
    t.match(cookie, /HttpOnly/);
    t.match(cookie, /Secure/);
    const health = await httpsGet(gwA, '/health', { cookie: cookie.split(';')[0] ?? '' });
    t.equal(health.status, 200, '/health answers 200 through the gateway');
    t.equal(health.body, 'ok');
  });

  await t.test('a killed broker comes back with every cluster and its state, and the clusters keep working', async (t) => {
    const pid = h.brokerPid();
    t.ok(pid, 'a broker runs');
    process.kill(pid as number, 'SIGKILL');
    const list = await h.run(['list', '--json']);
    t.equal(list.code, 0, list.stderr);
    const clusters = JSON.parse(list.stdout) as Array<{ name: string; state: string }>;
    t.same(clusters.map((c) => [c.name, c.state]), [['alpha', 'running'], ['beta', 'running']]);
    t.not(h.brokerPid(), pid, 'a new broker process answered');
    t.same(await daskSum(a.scheduler, a.credentials.ca, a.credentials.cert, a.credentials.key), { ok: true, result: 4950 });
  });

  await t.test('skiff down stops every agent and Dask process', async (t) => {
    for (const name of ['alpha', 'beta']) {
      const r = await h.run(['down', name]);
      t.equal(r.code, 0, r.stderr);
      t.match(r.stdout, new RegExp(`${name} .* stopped`));
    }
    const broker = h.brokerPid();
    t.same(h.processes().filter((p) => p.pid !== broker), [], 'only the broker is left');
    t.equal((await h.run(['broker', 'stop'])).code, 0);
    t.same(h.processes(), [], 'no skiff or dask process is left');
    const status = JSON.parse((await h.run(['status', 'alpha', '--json'])).stdout) as { state: string; reason: string };
    t.match(status, { state: 'stopped', reason: 'stopped by user' }, 'the record says why it stopped');
  });
});
