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
import { startMoto, type Moto } from './moto.js';
import { ROOT } from './skiff.js';

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
  moto: Moto;
  stop(): Promise<void>;
}

export async function startDataAccount(): Promise<DataAccount> {
  const moto = await startMoto();
  const dir = mkdtempSync(join(tmpdir(), 'skiff-user-aws-'));
  try {
    const setup = JSON.parse(execFileSync(PYTHON, [join(FIXTURES, 'data_moto_setup.py'), moto.endpoint], { encoding: 'utf8' })) as {
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
    const res = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '0' });
    if (!res.ok) throw new Error(`moto reset-auth: HTTP ${res.status}`);
    return {
      endpoint: moto.endpoint, bucket: setup.bucket, object: setup.object, body: setup.body, roleArn: setup.roleArn, userSecret: setup.secretAccessKey,
      sessions: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { accessKeyId: string; secretAccessKey: string }),
      clientEnv: {
        AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'), AWS_ENDPOINT_URL_STS: moto.endpoint,
        AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true',
      },
      moto,
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
