// A user's data account for the data-access tests: its own moto server (apart from any EC2 emulator), with a
// bucket, an object, a user whose keys may assume a reading role, and IAM authentication turned on once that is
// set up (moto's reset-auth), so every later request must be signed by credentials moto issued and allowed.
// The user's AWS configuration (a credential_process that assumes the role, as SSO helpers and vaults do) lives in
// a directory of its own, outside every skiff home; each session it hands out is recorded there, so a test
// knows every secret the cluster could have been given.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMoto } from './moto.js';
import { ROOT } from './skiff.js';
import type { Ec2Sim } from '../sim/ec2-sim.js';

const PYTHON = process.env['SKIFF_MOTO_PYTHON'] ?? 'python3';
const FIXTURES = join(ROOT, 'test/integration/fixtures');

export interface DataAccount {
  endpoint: string;
  bucket: string;
  object: string;
  body: string;
  roleArn: string;
  /** The user's long-lived secret key (it must never leave their machine: only sessions are forwarded). */
  userSecret: string;
  /** Every session the user's credential_process handed out so far. */
  sessions(): Array<{ accessKeyId: string; secretAccessKey: string }>;
  /** Environment for the user's CLI: their AWS config, and STS at this moto. */
  clientEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** Where the data account's moto runs (`endpoint`, as the CLI and the machines reach it) and how to run a command beside it. */
interface Placement {
  endpoint: string;
  run(cmd: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const runHere = (cmd: string, args: string[]): Promise<string> => Promise.resolve(execFileSync(cmd, args, { encoding: 'utf8', timeout: 120_000 }));

/** The data account on 127.0.0.1, for local clusters. */
export async function startDataAccount(): Promise<DataAccount> {
  const moto = await startMoto();
  return setUp({ endpoint: moto.endpoint, run: runHere, stop: () => moto.stop() });
}

/**
 * The data account on the simulator's internet address (198.51.100.1:PORT), where the VMs reach it through their
 * VPC's route out and the CLI (in the simulator's outer namespace) directly; set up from the outer namespace too.
 */
export async function startSimDataAccount(sim: Ec2Sim, port = 4580): Promise<DataAccount> {
  const cwd = mkdtempSync(join(tmpdir(), 'skiff-data-moto-'));
  const child = sim.spawn(PYTHON, ['-m', 'moto.server', '-H', sim.internetIp, '-p', String(port)], { cwd });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-3000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(-child.pid, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    }
    rmSync(cwd, { recursive: true, force: true });
  };
  const endpoint = `http://${sim.internetIp}:${port}`;
  const run = async (cmd: string, args: string[]): Promise<string> => {
    const r = await sim.exec(cmd, args, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.slice(-2000)}`);
    return r.stdout;
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await sim.exec('curl', ['-fsS', '--max-time', '1', '-o', '/dev/null', `${endpoint}/moto-api/data.json`]).then((r) => r.code === 0, () => false);
      if (ok) break;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the data account's moto did not start: ${stderr}`);
      await sleep(200);
    }
    return await setUp({ endpoint, run, stop });
  } catch (err) {
    await stop();
    throw err;
  }
}

async function setUp(moto: Placement): Promise<DataAccount> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-user-aws-'));
  try {
    const setup = JSON.parse(await moto.run(PYTHON, [join(FIXTURES, 'data_moto_setup.py'), moto.endpoint])) as {
      bucket: string; object: string; body: string; accessKeyId: string; secretAccessKey: string; roleArn: string;
    };
    const keys = join(dir, 'keys.json');
    writeFileSync(keys, JSON.stringify({ accessKeyId: setup.accessKeyId, secretAccessKey: setup.secretAccessKey }), { mode: 0o600 });
    const log = join(dir, 'sessions.jsonl');
    writeFileSync(log, '');
    const config = join(dir, 'config');
    writeFileSync(config, [
      '[default]', 'region = us-east-1',
      `credential_process = ${PYTHON} ${join(FIXTURES, 'assume_role_process.py')} ${moto.endpoint} ${setup.roleArn} ${keys} ${log}`, '',
    ].join('\n'));
    // From here on moto checks every request's signature and the caller's policies.
    await moto.run('curl', ['-fsS', '--max-time', '10', '-X', 'POST', '-H', 'content-type: text/plain', '--data', '0', `${moto.endpoint}/moto-api/reset-auth`]);
    return {
      endpoint: moto.endpoint, bucket: setup.bucket, object: setup.object, body: setup.body, roleArn: setup.roleArn, userSecret: setup.secretAccessKey,
      sessions: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { accessKeyId: string; secretAccessKey: string }),
      clientEnv: {
        AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'), AWS_ENDPOINT_URL_STS: moto.endpoint,
        AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true',
      },
      stop: async () => {
        await moto.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await moto.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
