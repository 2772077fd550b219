// Benchmarks of data access on a real local cluster, each beside a baseline from the same run:
//  - `skiff up --workers 2` with forwarded AWS credentials and a secret variable, against the same `up` without
//    (what resolving, GetCallerIdentity against moto and the delivery add to a start);
//  - a refresh, from the CLI's POST to the scheduler's gateway until a worker's container-credentials endpoint
//    serves the new keys, against the POST's own round trip (the scheduler → worker hop is the difference).
import { readdirSync, readFileSync } from 'node:fs';
import { makeHome } from '../helpers/skiff.js';
import { startMoto } from '../helpers/moto.js';
import { deliverDataAccess } from '../../broker/cli/data-access.js';
import { sized } from './mode.js';

const RUNS = sized(3, 1);
const REFRESHES = sized(20, 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
interface Up { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } }

/** The container-credentials endpoint and token a worker's Dask process was given. */
function workerEndpoint(home: string): { url: string; token: string } {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      if (!cmd.includes('dask\0worker') || !cmd.includes(home)) continue;
      const env = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      const url = env['AWS_CONTAINER_CREDENTIALS_FULL_URI'];
      const token = env['AWS_CONTAINER_AUTHORIZATION_TOKEN'];
      if (url && token) return { url, token };
    } catch {
      // gone
    }
  }
  throw new Error('no worker Dask process with a container-credentials endpoint');
}

async function main(): Promise<void> {
  const sts = await startMoto();
  const h = makeHome('skiff-bench-');
  // A session (no GetSessionToken); moto answers GetCallerIdentity.
  Object.assign(h.env, {
    AWS_ACCESS_KEY_ID: 'ASIABENCHMARK', AWS_SECRET_ACCESS_KEY: 'bench-secret', AWS_SESSION_TOKEN: 'bench-token', AWS_ENDPOINT_URL_STS: sts.endpoint,
    AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', BENCH_SECRET: 'value',
  });
  try {
    await h.run(['list']); // the broker starts once, outside the timings
    const timed = async (name: string, extra: string[]): Promise<{ s: number; up: Up }> => {
      const t0 = performance.now();
      const r = await h.run(['up', '--workers', '2', '--name', name, '--json', ...extra]);
      const s = (performance.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`up failed: ${r.stderr}`);
      return { s, up: JSON.parse(r.stdout) as Up };
    };
    const plain: number[] = [];
    const forwarded: number[] = [];
    let last: Up | undefined;
    for (let i = 0; i < RUNS; i++) {
      plain.push((await timed(`plain-${i}`, [])).s);
      await h.run(['down', `plain-${i}`]);
      const f = await timed(`fwd-${i}`, ['--forward-aws-credentials', '--secret-env', 'BENCH_SECRET']);
      forwarded.push(f.s);
      if (i < RUNS - 1) await h.run(['down', `fwd-${i}`]);
      else last = f.up;
    }
    const p = median(plain);
    const f = median(forwarded);
    console.log(`up --workers 2 with forwarded credentials + 1 secret: median ${f.toFixed(2)} s (runs ${forwarded.map((x) => x.toFixed(2)).join(', ')}); without ${p.toFixed(2)} s; with/without ${(f / p).toFixed(2)}x`);
    if (!last) throw new Error('no cluster');

    const worker = workerEndpoint(h.home);
    const post: number[] = [];
    const toWorker: number[] = [];
    for (let i = 0; i < REFRESHES; i++) {
      const key = `ASIAREFRESH${String(i).padStart(4, '0')}`;
      const t0 = performance.now();
      await deliverDataAccess(last.scheduler, last.credentials, { aws: { accessKeyId: key, secretAccessKey: `s${i}`, sessionToken: `t${i}` }, secretEnv: {} });
      post.push(performance.now() - t0);
      for (;;) {
        const got = (await (await fetch(worker.url, { headers: { authorization: worker.token } })).json()) as { AccessKeyId?: string };
        if (got.AccessKeyId === key) break;
        if (performance.now() - t0 > 10_000) throw new Error('the worker never served the refresh');
        await new Promise((r) => setTimeout(r, 2));
      }
      toWorker.push(performance.now() - t0);
    }
    const a = median(post);
    const b = median(toWorker);
    console.log(`refresh (median of ${REFRESHES}): CLI POST to the scheduler ${a.toFixed(1)} ms; until a worker serves it ${b.toFixed(1)} ms; end-to-end/POST ${(b / a).toFixed(2)}x`);
  } finally {
    await h.cleanup();
    await sts.stop();
  }
}

await main();
