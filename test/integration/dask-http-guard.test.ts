// Dask's HTTP servers on a machine, tried as another local user would (any process can reach 127.0.0.1): the
// scheduler's answers nothing without the agent's token — not its JSON, its API (retire_workers), its logs or its
// dashboard pages, nor a WebSocket — while the cluster computes, scales and shows its dashboard through the
// gateway (test/integration/dashboard-policy.test.ts); a worker's serves no route at all.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, daskSum } from '../helpers/skiff.js';
import { skiffPaths } from '../../broker/home.js';

interface UpJson {
  id: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

/** TCP ports a process listens on, from `ss` (iproute2). */
function listeningPorts(pid: number): number[] {
  const out = execFileSync('ss', ['-Htlnp'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`pid=${pid},`)).map((l) => Number(/127\.0\.0\.1:(\d+)/.exec(l)?.[1] ?? NaN)).filter(Number.isFinite);
}

t.test('a local user reaches no Dask HTTP route of a cluster\'s machines; the cluster works through skiff', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const upRun = await h.run(['up', '--workers', '1', '--name', 'guarded', '--json'], { timeoutMs: 180_000 });
  t.equal(upRun.code, 0, upRun.stderr);
  const up = JSON.parse(upRun.stdout) as UpJson;

  const clusterDir = join(skiffPaths(h.home).machinesDir, up.id);
  const schedulerDir = readdirSync(clusterDir).map((m) => join(clusterDir, m)).find((d) => {
    try {
      return (JSON.parse(readFileSync(join(d, 'enrolment.json'), 'utf8')) as { role?: string }).role === 'scheduler';
    } catch {
      return false;
    }
  });
  t.ok(schedulerDir, 'the scheduler machine\'s directory');
  const httpPort = (JSON.parse(readFileSync(join(schedulerDir ?? '', 'enrolment.json'), 'utf8')) as { scheduler: { httpPort: number } }).scheduler.httpPort;
  const base = `http://127.0.0.1:${httpPort}`;

  for (const [method, path] of [['GET', '/json/counts.json'], ['GET', '/health'], ['GET', '/metrics'], ['GET', '/api/v1/get_workers'], ['POST', '/api/v1/retire_workers'], ['GET', '/status'], ['GET', '/info/main/workers.html'], ['GET', '/sitemap.json']] as const) {
    const res = await fetch(`${base}${path}`, { method, ...(method === 'POST' ? { body: '{"n": 1}' } : {}) });
    t.equal(res.status, 403, `${method} ${path} without the token: 403`);
    t.match(await res.text(), /for its agent and gateway only/);
  }
  const wrong = await fetch(`${base}/json/counts.json`, { headers: { 'x-skiff-dask-http-token': 'guess'.repeat(9) } });
  t.equal(wrong.status, 403, 'a wrong token: 403');
  const statusLine = await new Promise<string>((resolve, reject) => {
    const sock = connect(httpPort, '127.0.0.1', () => {
      sock.write(`GET /status/ws HTTP/1.1\r\nHost: 127.0.0.1:${httpPort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    });
    let got = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error('no answer')));
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) {
        sock.destroy();
        resolve(got.slice(0, got.indexOf('\r\n')));
      }
    });
    sock.on('error', reject);
  });
  t.match(statusLine, /^HTTP\/1\.1 403/, 'a WebSocket upgrade without the token: 403');

  const workers = h.processes().filter((p) => /-m dask worker/.test(p.cmd));
  t.equal(workers.length, 1, 'one Dask worker process');
  const workerPorts = listeningPorts(workers[0]?.pid ?? 0);
  t.ok(workerPorts.length >= 1, `the worker listens on loopback: ${workerPorts.join(', ')}`);
  for (const port of workerPorts) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
    if (res === undefined) continue; // its Dask (TLS) port: not HTTP
    t.not(res.status, 200, `the worker's HTTP server on ${port} serves no /metrics (HTTP ${res.status})`);
  }

  const sum = await daskSum(up.scheduler, up.credentials.ca, up.credentials.cert, up.credentials.key);
  t.match(sum, { ok: true, result: 4950 }, 'a Dask client computes');
  const status = JSON.parse((await h.run(['status', 'guarded', '--json'])).stdout) as { state: string; workersReady: number };
  t.match(status, { state: 'running', workersReady: 1 }, 'the agent\'s own watch of the scheduler (health, counts) still works');
  const scaled = await h.run(['scale', 'guarded', '2'], { timeoutMs: 180_000 });
  t.equal(scaled.code, 0, `scale through the agent's scaling controller: ${scaled.stderr}`);
  t.equal((await h.run(['down', 'guarded'])).code, 0);
});
