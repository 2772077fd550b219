// `npm run bench [-- --quick] [NAME…]`: runs every test/bench/*.bench.ts in its own Node process, one after
// another, so one benchmark's garbage or threads never skew the next. Each prints its own figures beside a
// baseline measured in the same run; this runner only sequences them, gives each a deadline (a benchmark whose
// part hangs fails instead of waiting for ever: its whole process group is killed), prints each one's time and
// fails if one fails. `--quick` (mode.ts): small sizes, one run each — what CI runs.
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => a !== '--quick');
const DEADLINE_MS = Number(process.env['SKIFF_BENCH_DEADLINE_MS'] ?? (quick ? 240_000 : 1_800_000));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no benchmark matches ${only.join(', ')}; they are: ${readdirSync(here).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).join(', ')}\n`);
  process.exit(2);
}

function runOne(file: string): Promise<{ ok: boolean; why: string; seconds: number }> {
  // The SDK's notice about its 2027 releases would only clutter the figures.
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...(quick ? { SKIFF_BENCH_QUICK: '1' } : {}) };
  const t0 = performance.now();
  // Its own process group, so a deadline also ends the servers and Dask processes it started.
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, file)], { stdio: 'inherit', env, detached: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }, DEADLINE_MS);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Whatever it left behind in its group goes too.
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // nothing left
      }
      const seconds = (performance.now() - t0) / 1000;
      if (timedOut) resolve({ ok: false, why: `did not finish within its deadline of ${DEADLINE_MS / 1000} s`, seconds });
      else resolve({ ok: code === 0, why: `exit ${code ?? signal}`, seconds });
    });
  });
}

const results: { name: string; ok: boolean; why: string; seconds: number }[] = [];
for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, '');
  process.stdout.write(`\n== ${name}${quick ? ' (quick)' : ''} ==\n`);
  const r = await runOne(f);
  results.push({ name, ...r });
  if (!r.ok) process.stdout.write(`!! ${name} failed: ${r.why}\n`);
}
process.stdout.write('\nbenchmark            time  result\n');
for (const r of results) process.stdout.write(`${r.name.padEnd(18)} ${r.seconds.toFixed(0).padStart(5)} s  ${r.ok ? 'ok' : `FAILED (${r.why})`}\n`);
const failed = results.filter((r) => !r.ok).length;
process.stdout.write(`${results.length - failed} of ${results.length} benchmarks ran; total ${results.reduce((s, r) => s + r.seconds, 0).toFixed(0)} s\n`);
process.exit(failed === 0 ? 0 : 1);
