// `skiff dashboard NAME` through a real local cluster: the proxy on 127.0.0.1 serves the Dask dashboard page and
// a JSON route to the browser that opened its one-time link, and nothing to anyone else; a gateway presenting a
// certificate of another CA is refused before a byte of HTTP is sent to it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { createServer as createTlsServer } from 'node:tls';
import t from 'tap';
import { startDashboardProxy } from '../../broker/cli/dashboard-proxy.js';
import { makeHome, SKIFF } from '../helpers/skiff.js';
import { tlsFixtures } from '../helpers/tls-fixtures.js';

interface UpJson {
  name: string;
  credentials: { ca: string };
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

t.test('skiff dashboard serves the dashboard through a proxy that verifies the cluster CA', async (t) => {
  const h = makeHome('skiff-dashproxy-');
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '1', '--name', 'dash', '--json']);
  t.equal(up.code, 0, `up succeeds: ${up.stderr.slice(-500)}`);
  const c = JSON.parse(up.stdout) as UpJson;

  const env = { ...h.env };
  delete env['DISPLAY'];
  delete env['WAYLAND_DISPLAY'];
  const child = spawn(process.execPath, [SKIFF, 'dashboard', 'dash'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const link = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    void exited.then((code) => reject(new Error(`skiff dashboard exited (${String(code)}): ${stderr}`)));
  });
  t.match(link, /^http:\/\/127\.0\.0\.1:\d+\/\?skiff-key=[\w-]{20,}$/, 'it prints a local link (no browser here: none is started, nothing fails)');
  const base = new URL(link).origin;

  t.equal((await get(`${base}/status`)).status, 401, 'without the link\'s cookie the proxy serves nothing (another local user)');
  const opened = await get(link);
  t.equal(opened.status, 302, 'the link opens a browser session');
  const cookie = String(opened.headers['set-cookie'] ?? '').split(';')[0] ?? '';
  t.match(cookie, /^skiff_proxy_\d+=/);
  t.equal((await get(link)).status, 401, 'the link opens once');

  const page = await get(`${base}/status`, { cookie });
  t.equal(page.status, 200, 'the dashboard page is served');
  t.match(page.body, /[Dd]ask|[Bb]okeh/, 'it is the scheduler\'s dashboard');
  t.notMatch(page.body + JSON.stringify(page.headers), /token=|skiff_dashboard/, 'no gateway token or session reaches the browser');
  const identity = await get(`${base}/json/identity.json`, { cookie });
  t.equal(identity.status, 200, 'a Dask JSON route is served');
  t.match(JSON.parse(identity.body), { type: 'Scheduler' });
  t.equal((await get(`${base}/json/identity.json`, { cookie, host: 'evil.example:80' })).status, 421, 'a request for another host name is refused (DNS rebinding)');

  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C stops it cleanly');

  // A gateway whose certificate is from another CA (here: self-signed), as a network attacker would present.
  const fixtures = tlsFixtures();
  let handshakes = 0;
  const impostor = createTlsServer({ key: fixtures.gateway.keyPem, cert: fixtures.gateway.certPem, ALPNProtocols: ['http/1.1'] }, (s) => {
    handshakes++;
    s.destroy();
  });
  impostor.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
  t.teardown(() => impostor.close());
  await t.rejects(
    startDashboardProxy({ gateway: { host: '127.0.0.1', port: (impostor.address() as AddressInfo).port }, caPem: readFileSync(c.credentials.ca, 'utf8'), ticket: () => Promise.resolve('a-ticket') }),
    { code: 'CLI_DASHBOARD', message: /not from this cluster's CA/ },
    'the proxy refuses it',
  );
  t.equal(handshakes, 0, 'the TLS handshake never completed: the ticket was not sent');
});
