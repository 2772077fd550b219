// Benchmarks of a real local cluster, each beside a baseline from the same run:
//  - `skiff up --workers 2` to ready, against bare `dask scheduler` + 2 `dask worker` with the same TLS
//    (Dask's own start-up cost, which skiff cannot go below);
//  - Dask round trips and a 100 MB transfer through the gateway, against straight to the scheduler's TLS port.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHome, DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import { freeLocalPort } from '../../provisioner/local/ports.js';

const RUNS = 3;
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
    const procs = [
      spawn(DASK_PYTHON, ['-m', 'dask', 'scheduler', '--protocol', 'tls', '--host', '127.0.0.1', '--port', String(port), '--dashboard-address', `127.0.0.1:${http}`, ...tlsArgs], { env, stdio: 'ignore' }),
      ...[1, 2].map((w) =>
        spawn(DASK_PYTHON, ['-m', 'dask', 'worker', `tls://127.0.0.1:${port}`, '--no-nanny', '--nthreads', '1', '--no-dashboard', '--host', '127.0.0.1', '--name', `w${w}`, '--local-directory', dir, ...tlsArgs], { env, stdio: 'ignore' }),
      ),
    ];
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${http}/json/counts.json`, { signal: AbortSignal.timeout(1000) });
        if (res.ok && ((await res.json()) as { workers: number }).workers >= 2) break;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    out.push((performance.now() - t0) / 1000);
    await Promise.all(procs.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); })));
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const { seconds, home, up } = await skiffUpSeconds();
  try {
    const machineDir = join(home.home, 'machines', up.id, 'scheduler');
    const tls = { ca: join(machineDir, 'tls/ca.pem'), cert: join(machineDir, 'tls/cert.pem'), key: join(machineDir, 'tls/key.pem') };
    const bare = await bareDaskSeconds(tls);
    const s = median(seconds);
    const b = median(bare);
    console.log(`skiff up --workers 2 to ready: median ${s.toFixed(2)} s (runs ${seconds.map((x) => x.toFixed(2)).join(', ')}); bare Dask with TLS ${b.toFixed(2)} s; skiff/bare ${(s / b).toFixed(2)}x (target < 5 s)`);

    const enrolment = JSON.parse(readFileSync(join(machineDir, 'enrolment.json'), 'utf8')) as { scheduler: { daskPort: number } };
    const direct = `tls://127.0.0.1:${enrolment.scheduler.daskPort}`;
    const script = join(ROOT, 'test/bench/fixtures_dask_bench.py');
    const c = up.credentials;
    const viaDirect = JSON.parse(await runPy([script, direct, c.ca, c.cert, c.key])) as { rtt_us: number; mb_s: number };
    const viaGateway = JSON.parse(await runPy([script, up.scheduler, c.ca, c.cert, c.key])) as { rtt_us: number; mb_s: number };
    console.log(`Dask round trip (run_on_scheduler no-op, median of 300): gateway ${viaGateway.rtt_us.toFixed(0)} us, direct ${viaDirect.rtt_us.toFixed(0)} us, direct/gateway ${(viaDirect.rtt_us / viaGateway.rtt_us).toFixed(2)}`);
    console.log(`100 MB result to the client (best of 3): gateway ${viaGateway.mb_s.toFixed(0)} MB/s, direct ${viaDirect.mb_s.toFixed(0)} MB/s, gateway/direct ${(viaGateway.mb_s / viaDirect.mb_s).toFixed(2)} (target >= 0.95)`);
  } finally {
    await home.cleanup();
  }
}

await main();
