// The 443 lockout at the scale of the review: 8 source addresses × 128 connections that finish the dashboard's
// TLS handshake (ALPN http/1.1) and then send nothing, reopened as the gateway closes them. Before, the
// gateway's HTTPS server (never listen()ed, so Node's header timeouts never ran) kept each for ever and all
// 1,024 slots were taken. Now such a connection is nobody until it shows a ticket or a session: it is closed
// by its deadline, and nobodies cannot take the slots of a Dask client or of a browser with a session.
//
// Everything runs in a network namespace this test makes (the addresses 10.201.N.11 exist only there, on its
// loopback): the broker, the local cluster, the attacker, the Dask client and the browser (curl).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeHome, daskSum } from '../helpers/skiff.js';
import { makeNetnsLab } from '../helpers/netns-lab.js';
import { spawnSimHelper, type HelperProcess } from '../helpers/sim-helper-process.js';
import { GATEWAY_TRUST_TIMEOUT_MS } from '../../agent/gateway/limits.js';

interface UpJson {
  scheduler: string;
  dashboard: string;
  credentials: { ca: string; cert: string; key: string };
}
type AttackRecord = { open: number; attempts: number; handshaken: number; closedAfterHandshake: number; maxLifeMs: number; minLifeMs: number; oldestOpenMs: number };

// Eight addresses in eight /24s: the per-network cap alone would not stop them.
const ADDRESSES = Array.from({ length: 8 }, (_, i) => `10.201.${i + 1}.11`);
const PER_ADDRESS = 128;
// The deadline is checked against the attacker's own clock on a loaded machine: slack of 8 s. The attack
// this stops held its slots for good.
const SLACK_MS = 8_000;

function curl(launcher: string[], args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...rest] = [...launcher, 'curl', '-sS', '--max-time', '30', ...args];
  return new Promise((resolve) => {
    execFile(cmd ?? 'curl', rest, { timeout: 40_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
  });
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(nothing was written)';
  }
}

t.test('idle post-handshake HTTP connections from 8 addresses × 128 are closed by their deadline and lock out neither Dask nor a browser with a session', async (t) => {
  const lab = await makeNetnsLab(ADDRESSES);
  const h = makeHome('skiff-lockout-', { launcher: lab.launcher });
  const jar = mkdtempSync(join(tmpdir(), 'skiff-lockout-curl-'));
  const helpers: Array<HelperProcess<{ ready: AttackRecord }, AttackRecord>> = [];
  t.teardown(async () => {
    for (const p of helpers) await p.stop();
    await h.cleanup();
    lab.remove();
    rmSync(jar, { recursive: true, force: true });
  });

  const up = await h.run(['up', '--workers', '1', '--name', 'lockout', '--json'], { timeoutMs: 240_000 });
  t.equal(up.code, 0, `up succeeds inside the namespace: ${up.stderr.slice(-800)}`);
  const c = JSON.parse(up.stdout) as UpJson;
  const port = Number(c.scheduler.split(':').at(-1));

  const attack = await spawnSimHelper<{ ready: AttackRecord }, AttackRecord>(lab, 'idle-tls-clients-main.ts', [String(port), String(PER_ADDRESS), '100', ...ADDRESSES], 180_000);
  helpers.push(attack);
  const startedAt = Date.now();
  t.ok(attack.ready.ready.handshaken >= ADDRESSES.length * PER_ADDRESS, `all ${ADDRESSES.length * PER_ADDRESS} finished the dashboard's TLS handshake (${attack.ready.ready.handshaken})`);

  // Meanwhile: a real Dask client computes, and a browser with a session opens the dashboard.
  const compute = daskSum(c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, 60, lab.launcher);
  const cookies = join(jar, 'cookies');
  const page = await curl(lab.launcher, ['--cacert', c.credentials.ca, '-c', cookies, '-b', cookies, '-L', '-o', join(jar, 'status.html'), '-w', '%{http_code} %{num_redirects}', c.dashboard]);
  t.match(page.stdout, /^200 [1-9]$/, `the dashboard link is exchanged for a session and the page opens during the attack: ${page.stderr}`);
  t.match(readOr(join(jar, 'status.html')), /[Dd]ask|[Bb]okeh/, 'it is the scheduler\'s dashboard page');
  const json = await curl(lab.launcher, ['--cacert', c.credentials.ca, '-b', cookies, '-w', '\n%{http_code}', `https://127.0.0.1:${port}/json/identity.json`]);
  const [body = '', status] = json.stdout.split('\n');
  t.equal(status, '200', `the session's next request is answered: ${json.stderr}`);
  t.match(body, /"type"\s*:\s*"Scheduler"/, 'with the scheduler\'s JSON');
  t.same(await compute, { ok: true, result: 4950 }, 'a Dask client computes during the attack');

  // Keep the attack on for longer than the deadline and its slack, so a connection kept for ever shows.
  const longEnough = GATEWAY_TRUST_TIMEOUT_MS + SLACK_MS + 5_000;
  await new Promise((r) => setTimeout(r, Math.max(0, startedAt + longEnough - Date.now())));
  const records = attack.records();
  const last = records.at(-1);
  t.ok(last, 'the attacker reported');
  if (!last) return;
  const deadline = GATEWAY_TRUST_TIMEOUT_MS + SLACK_MS;
  t.ok(last.maxLifeMs <= deadline, `no closed connection outlived the ${GATEWAY_TRUST_TIMEOUT_MS} ms deadline by more than the slack (longest ${last.maxLifeMs} ms)`);
  const oldest = Math.max(...records.map((r) => r.oldestOpenMs));
  t.ok(oldest <= deadline, `no open connection was older than that at any report (oldest ${oldest} ms)`);
  t.ok(last.closedAfterHandshake >= ADDRESSES.length * PER_ADDRESS, `the gateway closed them (${last.closedAfterHandshake} closed after their handshake)`);
  const held = Math.max(...records.map((r) => r.open));
  t.ok(held >= 100, `the attack was real: the gateway held up to ${held} of them at once, reopened ${last.attempts - ADDRESSES.length * PER_ADDRESS} times`);

  await attack.stop();

  // Fewer than the gateway keeps of them, and not reopened: nothing pushes these out, so it is the deadline
  // that closes them.
  const quiet = await spawnSimHelper<{ ready: AttackRecord }, AttackRecord>(lab, 'idle-tls-clients-main.ts', [String(port), '16', '0', ...ADDRESSES], 120_000);
  helpers.push(quiet);
  t.equal(quiet.ready.ready.handshaken, ADDRESSES.length * 16, `${ADDRESSES.length * 16} more finish their handshake and wait`);
  await new Promise((r) => setTimeout(r, deadline + 1_000));
  const q = quiet.records().at(-1);
  t.equal(q?.closedAfterHandshake, ADDRESSES.length * 16, 'the gateway closed every one');
  t.ok((q?.minLifeMs ?? 0) >= GATEWAY_TRUST_TIMEOUT_MS - 1_000, `none before the deadline (first after ${q?.minLifeMs ?? '?'} ms)`);
  t.ok((q?.maxLifeMs ?? Infinity) <= deadline, `all by the deadline and its slack (last after ${q?.maxLifeMs ?? '?'} ms)`);
});
