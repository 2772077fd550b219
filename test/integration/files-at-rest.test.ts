// What skiff leaves on disk, read as another user of the machine would: with a $SKIFF_HOME that already
// existed at 0755, every file and folder skiff (and the broker, agents and Dask it starts) writes is private,
// while the cluster runs and after it stopped; a stopped cluster's CA key, enrol tokens, agent tokens and
// node keys are gone, and `skiff logs` still reads its logs.
import t from 'tap';
import { chmodSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { makeHome, daskSum } from '../helpers/skiff.js';

interface UpJson {
  id: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

/** Every file and folder under `dir` (symbolic links not followed: a venv's python links to the system one). */
function walk(dir: string): Array<{ path: string; mode: number; dir: boolean }> {
  const out: Array<{ path: string; mode: number; dir: boolean }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isSymbolicLink()) continue;
    out.push({ path, mode: st.mode & 0o777, dir: st.isDirectory() });
    if (st.isDirectory()) out.push(...walk(path));
  }
  return out;
}

function notPrivate(home: string): string[] {
  return [{ path: home, mode: statSync(home).mode & 0o777, dir: true }, ...walk(home)]
    .filter((e) => (e.mode & 0o077) !== 0)
    .map((e) => `${relative(home, e.path) || '.'} ${e.mode.toString(8)}`);
}

/** Files under `home` whose bytes contain any of `secrets` (files over 8 MiB are not read: none holds one). */
function holding(home: string, secrets: string[]): string[] {
  return walk(home)
    .filter((e) => !e.dir && statSync(e.path).size < 8 * 1024 * 1024)
    .filter((e) => {
      const text = readFileSync(e.path, 'latin1');
      return secrets.some((s) => text.includes(s));
    })
    .map((e) => relative(home, e.path));
}

t.test('a 0755 home becomes private, everything written is 0600/0700, and a stopped cluster keeps no secret', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  chmodSync(h.home, 0o755);

  const up = await h.run(['up', '--workers', '1', '--name', 'quiet', '--json']);
  t.equal(up.code, 0, `up succeeds: ${up.stderr}`);
  const c = JSON.parse(up.stdout) as UpJson;
  t.same(await daskSum(c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key), { ok: true, result: 4950 }, 'a Dask client computes');
  t.equal(statSync(h.home).mode & 0o777, 0o700, 'the home is 0700 now');
  t.same(notPrivate(h.home), [], 'while it runs, nothing under the home is readable by others');

  const machines = join(h.home, 'machines', c.id);
  const secrets: string[] = [];
  for (const m of readdirSync(machines)) {
    secrets.push((JSON.parse(readFileSync(join(machines, m, 'agent.json'), 'utf8')) as { enrolToken: string }).enrolToken);
    secrets.push((JSON.parse(readFileSync(join(machines, m, 'enrolment.json'), 'utf8')) as { agentToken: string }).agentToken);
    secrets.push(readFileSync(join(machines, m, 'tls', 'key.pem'), 'utf8').split('\n')[1] ?? '');
  }
  const caKey = join(h.home, 'broker', 'ca', `${c.id}.key`);
  secrets.push(readFileSync(caKey, 'utf8').split('\n')[1] ?? '');
  t.equal(secrets.length, 7, 'two machines, each with an enrol token, an agent token and a key; the CA key');

  const down = await h.run(['down', 'quiet']);
  t.equal(down.code, 0, down.stderr);
  t.same(notPrivate(h.home), [], 'after the stop, nothing under the home is readable by others');
  t.throws(() => statSync(caKey), { code: 'ENOENT' }, 'the CA key is gone');
  t.ok(statSync(join(h.home, 'broker', 'ca', `${c.id}.pem`)).isFile(), 'its public certificate stays');
  for (const m of readdirSync(machines)) {
    for (const f of ['agent.json', 'enrolment.json', 'tls']) t.throws(() => statSync(join(machines, m, f)), { code: 'ENOENT' }, `${m}/${f} is gone`);
  }
  t.same(holding(h.home, secrets), [], 'no file under the home holds a token or key of the stopped cluster');

  const logs = await h.run(['logs', 'quiet', '--machine', 'scheduler']);
  t.equal(logs.code, 0, `skiff logs works after the stop: ${logs.stderr}`);
  t.match(logs.stdout, /scheduler/i, 'and shows the scheduler log');
  const status = JSON.parse((await h.run(['status', 'quiet', '--json'])).stdout) as { state: string };
  t.equal(status.state, 'stopped');
});
