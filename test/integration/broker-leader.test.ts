// Two brokers on one DynamoDB table (moto's, on one thread so its conditional writes are atomic as DynamoDB's):
// exactly one leads; killed with SIGKILL, the other leads within the lease; the killed one, restarted, follows.
// A cluster started through the follower, whose agents report to it, is stopped by the watchdog of whichever
// broker leads when its limit comes — exactly once.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { makeHome, SKIFF, type SkiffHome } from '../helpers/skiff.js';
import { startMoto } from '../helpers/moto.js';
import { until } from '../helpers/wait.js';

/** Polls `get` until it gives a value; undefined after `timeoutMs`. */
async function value<T>(get: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs: number): Promise<T | undefined> {
  let got: T | undefined;
  await until(async () => (got = await get()) !== undefined, timeoutMs, everyMs);
  return got;
}

const LEASE_MS = 3000;
const TABLE = 'skiff-leader-test';

interface Running {
  proc: ChildProcess;
  url: string;
}

async function health(url: string): Promise<{ leader?: boolean; pid?: number } | undefined> {
  try {
    const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as { leader?: boolean; pid?: number };
  } catch {
    return undefined;
  }
}

t.test('two brokers on one table: one leader, a killed leader replaced within the lease, a cluster stopped once', async (t) => {
  const moto = await startMoto({ serial: true });
  t.teardown(() => moto.stop());
  const homes: SkiffHome[] = [makeHome('skiff-lead-a-'), makeHome('skiff-lead-b-')];
  const procs: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const h of homes) await h.cleanup();
  });

  const start = async (h: SkiffHome): Promise<Running> => {
    const env = {
      ...h.env, ...moto.env, AWS_REGION: 'us-east-1', SKIFF_LEADER_LEASE_MS: String(LEASE_MS),
      SKIFF_WATCHDOG_INTERVAL_MS: '500', SKIFF_LOG_LEVEL: 'info',
    };
    const proc = spawn(process.execPath, [SKIFF, 'broker', '--store', `dynamodb:${TABLE}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(proc);
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await value(() => /broker listening on (http:\/\/\S+)/.exec(stderr)?.[1], 30_000, 100);
    if (!url) throw new Error(`broker did not start: ${stderr}`);
    return { proc, url };
  };
  const [ha, hb] = homes as [SkiffHome, SkiffHome];
  const a = await start(ha);
  const b = await start(hb);
  const leaders = async () => Promise.all([health(a.url), health(b.url)]).then((hs) => hs.map((x) => x?.leader));
  t.ok(await until(async () => (await leaders()).filter(Boolean).length === 1, 10_000, 200), 'one of the two leads');
  // Over a few lease lifetimes, never both, never neither.
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    seen.add(JSON.stringify(await leaders()));
    await new Promise((r) => setTimeout(r, 300));
  }
  t.same([...seen].filter((s) => s !== '[true,false]' && s !== '[false,true]'), [], `exactly one leader at every look (${[...seen].join(' ')})`);

  // The cluster goes through the follower: its agents report to it, the leader watches from the shared states.
  const [leadAtFirst] = await leaders();
  const [leader, follower, followerHome] = leadAtFirst ? [a, b, hb] : [b, a, ha];
  const up = await followerHome.run(['up', '--workers', '1', '--name', 'quiet', '--no-client-timeout', '20s', '--json']);
  t.equal(up.code, 0, `up through the follower: ${up.stderr.slice(-400)}`);
  const id = (JSON.parse(up.stdout) as { id: string }).id;

  const killedAt = Date.now();
  leader.proc.kill('SIGKILL');
  const took = await value(async () => ((await health(follower.url))?.leader ? Date.now() - killedAt : undefined), LEASE_MS * 4, 100);
  t.ok(took !== undefined && took <= LEASE_MS + LEASE_MS / 3 + 1500, `the follower leads ${took ?? '?'} ms after the leader was killed (lease ${LEASE_MS} ms)`);
  const restarted = await start(leader === a ? ha : hb);
  await new Promise((r) => setTimeout(r, LEASE_MS));
  t.equal((await health(restarted.url))?.leader, false, 'the killed broker, restarted, follows');

  // No client ever connects: the new leader stops the cluster at its 20 s limit, counted from its start.
  const stopped = await value(async () => {
    const st = await followerHome.run(['status', id, '--json']);
    const c = JSON.parse(st.stdout || '{}') as { state?: string; reason?: string };
    return c.state === 'stopped' ? c : undefined;
  }, 90_000, 1000);
  t.match(stopped?.reason, /no (Dask )?client/i, `stopped by the watchdog's no-client rule (${stopped?.reason ?? 'not stopped'})`);
  const notes = await followerHome.run(['notifications', id, '--json']);
  const list = notes.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; state?: string; seq: number });
  const stops = list.filter((n) => n.state === 'stopping' || n.state === 'stopped');
  t.same(stops.map((n) => n.state), ['stopping', 'stopped'], 'stopped exactly once');
  t.equal(new Set(list.map((n) => n.seq)).size, list.length, 'every notification once');
});
