// Trust inside Dask itself: the scheduler admits as workers only the worker certificates of its cluster (a
// user's client certificate, or the scheduler's own, is refused and given no task), and no Dask HTTP server
// listens beyond loopback (Dask starts a worker's, serving /metrics, even with --no-dashboard).
import t from 'tap';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, daskSum, DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import type { EnrolResponse } from '../../broker/api/wire.js';

interface UpJson {
  id: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

/** Starts `dask worker` with the given certificate; resolves with its exit code and output (killed after timeoutMs). */
function rogueWorker(scheduler: string, tls: { ca: string; cert: string; key: string }, name: string, timeoutMs: number): { done: Promise<{ code: number | null; output: string }>; kill: () => void } {
  const child = spawn(DASK_PYTHON, [
    '-m', 'dask', 'worker', scheduler, '--name', name, '--host', '127.0.0.1', '--no-nanny', '--nthreads', '1',
    '--no-dashboard', '--dashboard-address', '127.0.0.1:0', '--tls-ca-file', tls.ca, '--tls-cert', tls.cert, '--tls-key', tls.key,
  ], { env: { ...process.env, DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: 'True', PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
  return { done, kill: () => child.exitCode === null && child.kill('SIGKILL') };
}

/** The TCP listening sockets of one process, as "address:port" (from its fds and its network namespace's tables). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9] ?? '')) continue;
      const [hexAddr = '', hexPort = ''] = (f[1] ?? '').split(':');
      out.push(`${decodeAddress(hexAddr)}:${parseInt(hexPort, 16)}`);
    }
  }
  return out.sort();
}

/** /proc/net/tcp{,6} addresses: 32-bit words in host (little-endian) order. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) * 256 + (bytes[2 * i + 1] ?? 0)).toString(16));
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]`;
}

t.test('the scheduler refuses certificates that are not its workers\', and no Dask HTTP server leaves loopback', async (t) => {
  const h = makeHome();
  const rogues: Array<() => void> = [];
  t.teardown(async () => {
    for (const kill of rogues) kill();
    await h.cleanup();
  });
  const up = await h.run(['up', '--workers', '1', '--name', 'trusted', '--json', '--software', 'system']);
  t.equal(up.code, 0, `up succeeds: ${up.stderr}`);
  const c = JSON.parse(up.stdout) as UpJson;
  const machinesDir = join(h.home, 'machines', c.id);
  const machines = readdirSync(machinesDir).map((d) => ({ dir: join(machinesDir, d), enrolment: JSON.parse(readFileSync(join(machinesDir, d, 'enrolment.json'), 'utf8')) as EnrolResponse }));
  const worker = machines.find((m) => m.enrolment.role === 'worker');
  const scheduler = machines.find((m) => m.enrolment.role === 'scheduler');
  if (!worker || !scheduler) throw new Error('machines not found');

  t.test('a user certificate, or the scheduler\'s own, cannot register as a worker while a real client computes', async (t) => {
    // Through the one public port, as anyone holding the user's credentials would.
    const asUser = rogueWorker(c.scheduler, c.credentials, 'rogue-user', 60_000);
    const asScheduler = rogueWorker(c.scheduler, { ca: c.credentials.ca, cert: join(scheduler.dir, 'tls/cert.pem'), key: join(scheduler.dir, 'tls/key.pem') }, 'rogue-scheduler', 60_000);
    rogues.push(asUser.kill, asScheduler.kill);
    const [user, sched, sum] = await Promise.all([asUser.done, asScheduler.done, daskSum(c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, 30)]);
    t.same(sum, { ok: true, result: 4950 }, 'a real client computes meanwhile');
    t.not(user.code, 0, 'the worker with a user certificate ends with an error');
    t.match(user.output, /skiff: not a worker of this cluster: certificate is a user certificate, not a worker's/);
    t.not(sched.code, 0, 'the worker with the scheduler\'s certificate ends with an error');
    t.match(sched.output, /skiff: not a worker of this cluster: certificate is a scheduler certificate, not a worker's/);
    t.notMatch(user.output + sched.output, /Registered to:/, 'neither was registered');

    const info = await new Promise<string>((resolve) => {
      const p = spawn(DASK_PYTHON, [join(ROOT, 'test/integration/fixtures/dask_info.py'), c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, '30']);
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', () => resolve(out.trim().split('\n').at(-1) ?? ''));
    });
    const parsed = JSON.parse(info) as { ok: boolean; workers: Record<string, number> };
    t.equal(parsed.ok, true, 'the cluster still computes after the attempts');
    t.equal(Object.keys(parsed.workers).length, 1, 'only the real worker is in the cluster');
    const logs = await h.run(['logs', 'trusted', '--machine', 'scheduler', '--filter', 'skiff refused worker']);
    t.match(logs.stdout, /skiff refused worker .* \(certificate user\.c[0-9a-f]+\): certificate is a user certificate/, 'the scheduler logs the refusal with the certificate it saw');
  });

  t.test('the Dask processes of the worker and the scheduler listen for HTTP on loopback only', async (t) => {
    for (const m of [worker, scheduler]) {
      const pid = Number(readFileSync(join(m.dir, 'dask.pid'), 'utf8').trim());
      const sockets = listeningSockets(pid);
      t.ok(sockets.length >= 2, `${m.enrolment.role}: its Dask and HTTP listeners are found: ${sockets.join(', ')}`);
      t.same(sockets.filter((s) => !s.startsWith('127.0.0.1:')), [], `${m.enrolment.role}: nothing listens on 0.0.0.0, [::] or any other address`);
      // The HTTP one answers on loopback, but serves no other local user: the scheduler's wants its agent's token
      // (403), a worker's has no route (404); the Dask listener is TLS and does not answer HTTP at all.
      const statuses: number[] = [];
      for (const s of sockets) {
        const res = await fetch(`http://${s}/health`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
        if (res !== undefined) statuses.push(res.status);
      }
      t.same(statuses, [m.enrolment.role === 'scheduler' ? 403 : 404], `${m.enrolment.role}: its HTTP server answers on loopback, and refuses`);
    }
  });
});
