// Benchmarks of a real local cluster, each beside a baseline from the same run:
//  - `skiff up --workers 2` to ready, against bare `dask scheduler` + 2 `dask worker` with the same TLS
//    (Dask's own start-up cost, which skiff cannot go below);
//  - Dask round trips and a 100 MB transfer through the gateway, against straight to the scheduler's TLS port.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHome, DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import { freeLocalPort } from '../../provisioner/local/ports.js';
import { sized } from './mode.js';

const RUNS = sized(3, 1);
/** Bare Dask with two workers is up in seconds; this long means a part failed (the benchmark fails, never hangs). */
const BARE_DEADLINE_MS = 60_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function runPy(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(DASK_PYTHON, args, { timeout: 300_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

async function skiffUpSeconds(): Promise<{ seconds: number[]; home: ReturnType<typeof makeHome>; up: { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } } }> {
  const h = makeHome('skiff-bench-');
  const seconds: number[] = [];
  let up: { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } } | undefined;
  // The first `up` also starts the background broker; count it (a new user pays it once).
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = await h.run(['up', '--workers', '2', '--name', `bench-${i}`, '--json']);
    seconds.push((performance.now() - t0) / 1000);
    if (r.code !== 0) throw new Error(`skiff up failed: ${r.stderr}`);
    up = JSON.parse(r.stdout) as { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } };
    if (i < RUNS - 1) await h.run(['down', `bench-${i}`]);
  }
  if (!up) throw new Error('no run');
  return { seconds, home: h, up };
}

/** Bare Dask with TLS: scheduler + 2 workers, until the scheduler reports 2 workers. */
async function bareDaskSeconds(tls: { ca: string; cert: string; key: string }): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'dask-bare-'));
    const [port, http] = [await freeLocalPort(), await freeLocalPort()];
    const env = { ...process.env, DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: 'True' };
    const tlsArgs = ['--tls-ca-file', tls.ca, '--tls-cert', tls.cert, '--tls-key', tls.key];
    const t0 = performance.now();
    const deadline = Date.now() + BARE_DEADLINE_MS;
    const procs = [
      spawn(DASK_PYTHON, ['-m', 'dask', 'scheduler', '--protocol', 'tls', '--host', '127.0.0.1', '--port', String(port), '--dashboard-address', `127.0.0.1:${http}`, ...tlsArgs], { env, stdio: 'ignore' }),
      ...[1, 2].map((w) =>
        spawn(DASK_PYTHON, ['-m', 'dask', 'worker', `tls://127.0.0.1:${port}`, '--no-nanny', '--nthreads', '1', '--no-dashboard', '--host', '127.0.0.1', '--name', `w${w}`, '--local-directory', dir, ...tlsArgs], { env, stdio: 'ignore' }),
      ),
    ];
    const stopAll = () => Promise.all(procs.map((p) => new Promise((r) => {
      if (p.exitCode !== null || p.signalCode !== null) return r(undefined);
      p.once('exit', r);
      p.kill('SIGTERM');
    })));
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${http}/json/counts.json`, { signal: AbortSignal.timeout(1000) });
        if (res.ok && ((await res.json()) as { workers: number }).workers >= 2) break;
      } catch {
        // not up yet
      }
      const exited = procs.find((p) => p.exitCode !== null);
      if (exited || Date.now() > deadline) {
        await stopAll();
        rmSync(dir, { recursive: true, force: true });
        throw new Error(exited ? `bare Dask: a process exited with code ${exited.exitCode} before 2 workers connected` : `bare Dask: 2 workers not connected within ${BARE_DEADLINE_MS / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    out.push((performance.now() - t0) / 1000);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const { seconds, home, up } = await skiffUpSeconds();
  let tlsDir: string | undefined;
  try {
    const machineDir = join(home.home, 'machines', up.id, 'scheduler');
    // The baseline's TLS files are copies: the cluster's own go with it when it stops (its watchdog stops a
    // cluster no client uses, which once left the baseline waiting for files that were gone).
    tlsDir = mkdtempSync(join(tmpdir(), 'dask-bare-tls-'));
    const tls = { ca: join(tlsDir, 'ca.pem'), cert: join(tlsDir, 'cert.pem'), key: join(tlsDir, 'key.pem') };
    for (const f of ['ca', 'cert', 'key'] as const) copyFileSync(join(machineDir, `tls/${f}.pem`), tls[f]);

    const enrolment = JSON.parse(readFileSync(join(machineDir, 'enrolment.json'), 'utf8')) as { scheduler: { daskPort: number } };
    const direct = `tls://127.0.0.1:${enrolment.scheduler.daskPort}`;
    const script = join(ROOT, 'test/bench/fixtures_dask_bench.py');
    const c = up.credentials;
    const viaDirect = JSON.parse(await runPy([script, direct, c.ca, c.cert, c.key])) as { rtt_us: number; mb_s: number };
    const viaGateway = JSON.parse(await runPy([script, up.scheduler, c.ca, c.cert, c.key])) as { rtt_us: number; mb_s: number };
    console.log(`Dask round trip (run_on_scheduler no-op, median of 300): gateway ${viaGateway.rtt_us.toFixed(0)} us, direct ${viaDirect.rtt_us.toFixed(0)} us, direct/gateway ${(viaDirect.rtt_us / viaGateway.rtt_us).toFixed(2)}`);
    console.log(`100 MB result to the client (best of 3): gateway ${viaGateway.mb_s.toFixed(0)} MB/s, direct ${viaDirect.mb_s.toFixed(0)} MB/s, gateway/direct ${(viaGateway.mb_s / viaDirect.mb_s).toFixed(2)} (target >= 0.95)`);

    // Last: the cluster may stop meanwhile (no client), the baseline needs only its copied TLS files.
    const bare = await bareDaskSeconds(tls);
    const s = median(seconds);
    const b = median(bare);
    console.log(`skiff up --workers 2 to ready: median ${s.toFixed(2)} s (runs ${seconds.map((x) => x.toFixed(2)).join(', ')}); bare Dask with TLS ${b.toFixed(2)} s; skiff/bare ${(s / b).toFixed(2)}x (target < 5 s)`);
  } finally {
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    await home.cleanup();
  }
}

await main();
