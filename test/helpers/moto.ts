// Starts a real moto server (the AWS API emulator) on 127.0.0.1 for one test, and stops it in teardown.
// moto comes from the pyenv Python on these machines; .ci/run installs it when it is missing.
// Use `moto.env` as the environment of a child process, or `moto.clientConfig` for an SDK client.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLocalPort as freePort } from '../../provisioner/local/ports.js';
import { motoImagesFile } from './aws.js';

export interface Moto {
  endpoint: string;
  port: number;
  env: Record<string, string>;
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Stop the server (SIGTERM, then SIGKILL after 5 s). Safe to call twice. */
  stop(): Promise<void>;
  /** Start it again on the same port (state is lost, as after a real outage of the emulator). */
  restart(): Promise<void>;
  /** Wipe all emulated resources. */
  reset(): Promise<void>;
}

// Test processes make SDK clients too: the SDK's notice about its 2027 releases is noise here.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const MOTO_PYTHON = process.env['SKIFF_MOTO_PYTHON'] ?? 'python3';

// moto's server answers requests on threads and checks a DynamoDB condition apart from the write it guards, so two
// racing conditional writes can both land; DynamoDB makes each item write atomic. `serial` runs moto on one thread
// (one request at a time, HTTP/1.0), which restores that guarantee for tests that race writers on purpose.
const SERIAL_MOTO = [
  'import sys',
  'from werkzeug.serving import run_simple',
  'from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app',
  'run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)',
].join('\n');

export async function startMoto(opts: { region?: string; port?: number; serial?: boolean } = {}): Promise<Moto> {
  const region = opts.region ?? 'us-east-1';
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let workDir: string | undefined;

  async function up(): Promise<void> {
    // In a directory of its own: moto writes a moto_recording file into its working directory.
    workDir = mkdtempSync(join(tmpdir(), 'skiff-moto-'));
    const args = opts.serial ? ['-c', SERIAL_MOTO, '127.0.0.1', String(port)] : ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)];
    const proc = spawn(MOTO_PYTHON, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: workDir,
      // The public images skiff looks up (Debian 12, the GPU AMIs): stock moto has none of them.
      env: { ...process.env, MOTO_AMIS_PATH: process.env['MOTO_AMIS_PATH'] ?? motoImagesFile() },
    });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`moto server exited (${proc.exitCode}): ${stderr}`);
      try {
        const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`moto server did not answer on ${endpoint} within 30 s: ${stderr}`);
      await sleep(100);
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    const dir = workDir;
    child = undefined;
    workDir = undefined;
    if (proc && proc.exitCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }

  await up();
  const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
  return {
    endpoint,
    port,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
    },
    clientConfig: { endpoint, region, credentials },
    stop,
    restart: async () => {
      await stop();
      await up();
    },
    reset: async () => {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    },
  };
}
