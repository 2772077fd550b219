// Data access on real local clusters: the user's CLI forwards short-lived AWS credentials (from a credential_process
// that assumes a role in a moto "data account" with IAM authentication on) and secret variables straight to the
// scheduler's gateway; Dask tasks on the workers read the bucket with boto3's own credential chain; the broker,
// the logs and every other process never hold a secret.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, DASK_PYTHON, ROOT, SKIFF, type SkiffHome } from '../helpers/skiff.js';
import { startDataAccount, type DataAccount } from '../helpers/data-account.js';
import { until } from '../helpers/wait.js';
import { environsHolding, filesHolding, isDaskProcess } from '../helpers/secrets.js';
import { deliverDataAccess } from '../../broker/cli/data-access.js';

const ACCESS = join(ROOT, 'test/integration/fixtures/dask_data_access.py');

interface Up { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } }

function userHome(account: DataAccount, extra: Record<string, string> = {}): SkiffHome {
  const h = makeHome();
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_ENDPOINT_URL']) delete h.env[k];
  Object.assign(h.env, account.clientEnv, extra);
  return h;
}

async function up(h: SkiffHome, args: string[]): Promise<{ up: Up; stderr: string }> {
  const r = await h.run(['up', '--json', ...args], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`up failed: ${r.stderr}`);
  return { up: JSON.parse(r.stdout) as Up, stderr: r.stderr };
}

async function onCluster<T>(u: Up, args: string[]): Promise<T> {
  const c = u.credentials;
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile(DASK_PYTHON, [ACCESS, u.scheduler, c.ca, c.cert, c.key, ...args], { timeout: 120_000, env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T)),
  );
}

t.test('forwarded credentials let a Dask task read the bucket; without them the data account refuses it; no secret outside Dask', async (t) => {
  const account = await startDataAccount();
  t.teardown(() => account.stop());
  const secretValue = `s3cr3t-${Math.random().toString(36).slice(2)}`;
  const h = userHome(account, { TEAM_TOKEN: secretValue });
  t.teardown(() => h.cleanup());

  const fwd = await up(h, ['--workers', '1', '--name', 'fwd', '--forward-aws-credentials', '--env', 'STAGE=test', '--env', 'EMPTY=', '--secret-env', 'TEAM_TOKEN']);
  t.match(fwd.stderr, /forwarding AWS credentials of arn:aws:sts::\d+:assumed-role\/data-reader\/analyst \(valid until /, 'up says whose credentials it forwards');
  t.match(fwd.stderr, /data access delivered to the scheduler: AWS credentials, TEAM_TOKEN/, 'and that the scheduler took them');

  const read = await onCluster<{ ok: boolean; body?: string; accessKeyId?: string; error?: string }>(fwd.up, ['s3', account.endpoint, account.bucket, account.object]);
  t.same({ ok: read.ok, body: read.body }, { ok: true, body: account.body }, `a task on a worker read the object: ${JSON.stringify(read)}`);
  t.ok(account.sessions().some((s) => s.accessKeyId === read.accessKeyId), 'with a session the user\'s credential_process issued');

  const env = await onCluster<{ worker: Record<string, string | null>; scheduler: Record<string, string | null> }>(fwd.up, ['env', 'STAGE', 'EMPTY', 'TEAM_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_CONFIG_FILE']);
  for (const side of ['worker', 'scheduler'] as const) {
    t.same(env[side], { STAGE: 'test', EMPTY: '', TEAM_TOKEN: secretValue, AWS_ACCESS_KEY_ID: null, AWS_CONFIG_FILE: null }, `the ${side} has --env and --secret-env, and no other AWS credentials`);
  }

  const text = (await h.run(['status', 'fwd'])).stdout;
  t.match(text, /env: STAGE=test EMPTY=/, 'status shows the plain variables');
  t.match(text, /data access: AWS credentials forwarded from the client: arn:aws:sts::\d+:assumed-role\/data-reader\/analyst, until \S+Z .*; secret env TEAM_TOKEN/, 'whose identity, until when, which secret names');
  const view = JSON.parse((await h.run(['status', 'fwd', '--json'])).stdout) as Record<string, unknown>;
  t.match(view, { env: { STAGE: 'test', EMPTY: '' }, dataAccess: { forwardAws: true, secretEnv: ['TEAM_TOKEN'] }, dataAccessState: { identity: /assumed-role\/data-reader/, expiresAt: String } });

  // The same task on a cluster that was not given the credentials: the data account says no.
  const bare = await up(h, ['--workers', '1', '--name', 'bare', '--no-forward-aws-credentials']);
  const refused = await onCluster<{ ok: boolean; error?: string; message?: string }>(bare.up, ['s3', account.endpoint, account.bucket, account.object]);
  t.equal(refused.ok, false, 'without forwarded credentials the read fails');
  t.match(refused.error, /AccessDenied|403/, `refused by the data account: ${refused.message ?? ''}`);
  t.match((await h.run(['status', 'bare'])).stdout, /data access: AWS credentials not forwarded/);

  // Nothing secret anywhere but in the Dask processes' memory and environment.
  const secrets = [...account.sessions().map((s) => s.secretAccessKey), account.userSecret, secretValue];
  t.ok(account.sessions().length >= 1, `${account.sessions().length} session(s) to look for`);
  t.same(filesHolding(h.home, secrets), [], 'no file under the skiff home (broker store, broker log, machines\' logs and spools) holds a secret');
  const holders = environsHolding(secrets, h.processes().map((p) => p.pid));
  t.ok(holders.some((p) => isDaskProcess(p.cmd)), 'the Dask processes hold the secret variable (so the search can find one)');
  t.same(holders.filter((p) => !isDaskProcess(p.cmd)), [], 'no other process (broker, agents) has a secret in its environment');
  const brokerLog = readFileSync(join(h.home, 'broker', 'broker.log'), 'utf8');
  t.match(brokerLog, /the client's data access reached the cluster/, 'the broker logged the event (names and identity only)');

  // The gateway's data-access route takes the user's certificate only: a machine's own is refused, and so is none.
  const machineCert = readdirSync(h.home, { recursive: true }).map(String).find((p) => p.includes(fwd.up.id) && p.endsWith(join('tls', 'cert.pem')));
  if (!machineCert) return t.fail('no machine certificate of the cluster under the home');
  const machine = { ca: fwd.up.credentials.ca, cert: join(h.home, machineCert), key: join(h.home, machineCert.replace(/cert\.pem$/, 'key.pem')) };
  await t.rejects(deliverDataAccess(fwd.up.scheduler, machine, { secretEnv: { TEAM_TOKEN: 'forged' } }), { code: 'CLI_DATA_ACCESS', message: /HTTP 403/ }, 'a machine certificate is refused');
  const env2 = await onCluster<{ worker: Record<string, string | null> }>(fwd.up, ['env', 'TEAM_TOKEN']);
  t.equal(env2.worker['TEAM_TOKEN'], secretValue, 'and changed nothing');
});

t.test('refresh: the workers get new credentials before the old ones expire, and a long task reads across the change', async (t) => {
  const account = await startDataAccount();
  t.teardown(() => account.stop());
  const h = userHome(account);
  t.teardown(() => h.cleanup());
  // --no-wait: up returns at once, and says the machines wait for `credentials --forward` to deliver.
  const started = await h.run(['up', '--json', '--no-wait', '--workers', '1', '--name', 'fresh', '--forward-aws-credentials']);
  t.equal(started.code, 0, started.stderr);
  t.match(started.stderr, /their Dask starts once the data access arrives: run `skiff credentials fresh --forward`/);

  // `skiff credentials --forward` delivers, then re-sends every 2 s here (half the credentials' life by default).
  const forwarder = spawn(process.execPath, [SKIFF, 'credentials', 'fresh', '--forward', '--json'], { env: { ...h.env, SKIFF_CREDENTIALS_REFRESH_MS: '2000' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let sent = '';
  forwarder.stdout.on('data', (d: Buffer) => (sent += d.toString()));
  let forwarderErr = '';
  forwarder.stderr.on('data', (d: Buffer) => (forwarderErr += d.toString()));
  t.teardown(() => {
    if (forwarder.exitCode === null) forwarder.kill('SIGKILL');
  });
  const running = await until(async () => (JSON.parse((await h.run(['status', 'fresh', '--json'])).stdout) as { state: string }).state === 'running', 120_000, 1000);
  if (!running) return t.fail(`the cluster did not start once the forwarder ran: ${forwarderErr}`);
  t.notMatch(forwarderErr, /error/, `the forwarder delivered to a starting cluster (waiting for its scheduler if it came first): ${forwarderErr.trim()}`);
  const creds = JSON.parse((await h.run(['credentials', 'fresh', '--out', join(h.home, 'my-creds'), '--json'])).stdout) as Up['credentials'];
  const u: Up = { id: '', scheduler: (JSON.parse((await h.run(['status', 'fresh', '--json'])).stdout) as { scheduler: string }).scheduler, credentials: creds };
  const first = account.sessions().at(0);
  const loop = await onCluster<{ keys: string[]; reads: number; errors: string[] }>(u, ['s3-loop', account.endpoint, account.bucket, account.object, '12']);
  const exited = new Promise<number | null>((resolve) => forwarder.once('exit', (code) => resolve(code)));
  forwarder.kill('SIGINT');
  await exited;

  const lines = sent.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { identity: string; expiresAt: string; nextInMs: number });
  t.ok(lines.length >= 4, `the forwarder sent ${lines.length} times in the task's 12 s ${forwarderErr.slice(-300)}`);
  t.same(loop.errors, [], 'no read failed across the changes');
  t.ok(loop.reads >= 15, `the task kept reading (${loop.reads} reads)`);
  t.ok(loop.keys.length >= 3, `the worker changed credentials while the task ran: ${loop.keys.length} access keys`);
  const issued = new Map(account.sessions().map((s) => [s.accessKeyId, s]));
  t.ok(loop.keys.every((k) => issued.has(k)), 'each one a session the user\'s process issued');
  t.ok(first !== undefined && loop.keys[0] !== undefined, 'the task started with a forwarded session');
  // Each set was replaced long before it expired (15-minute sessions, re-sent every 2 s).
  t.ok(lines.every((l) => Date.parse(l.expiresAt) - Date.now() > 10 * 60_000), 'every set sent had minutes left when it was replaced');
});

t.test('bad names, an unset --secret-env and no credentials to forward: one clear message each, nothing created', async (t) => {
  const account = await startDataAccount();
  t.teardown(() => account.stop());
  const h = userHome(account);
  t.teardown(() => h.cleanup());
  const cases: Array<[string[], RegExp, Record<string, string>?]> = [
    [['--env', '1X=2'], /--env name "1X" is not valid: use letters, digits and _, not starting with a digit/],
    [['--env', 'NOEQUALS'], /--env takes NAME=VALUE; got "NOEQUALS"/],
    [['--env', 'SKIFF_HOME=/x'], /--env name "SKIFF_HOME" is reserved/],
    [['--secret-env', 'TEAM_TOKEN_NOT_SET'], /--secret-env TEAM_TOKEN_NOT_SET: TEAM_TOKEN_NOT_SET is not set in this shell's environment/],
    [['--env', 'A=1', '--secret-env', 'A'], /A is given both with --env and --secret-env/, { A: 'x' }],
    [['--forward-aws-credentials', '--no-forward-aws-credentials'], /not both/],
    [['--forward-aws-credentials'], /no AWS credentials to forward to the cluster .*--no-forward-aws-credentials/, { AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials' }],
  ];
  for (const [args, message, env] of cases) {
    const saved = Object.fromEntries(Object.keys(env ?? {}).map((k) => [k, h.env[k]]));
    Object.assign(h.env, env ?? {});
    const r = await h.run(['up', '--workers', '1', '--name', 'bad', ...args]);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete h.env[k];
      else h.env[k] = v;
    }
    t.not(r.code, 0, `${args.join(' ')} fails`);
    t.match(r.stderr, message, `${args.join(' ')}: ${r.stderr.trim()}`);
    t.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('skiff: error')).length, 1, 'in one message');
  }
  t.same(h.processes(), [], 'no broker was started, no machine runs');
});
