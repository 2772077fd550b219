// Runs the real `skiff` CLI (the built dist/, as a user would after `npm install`) in its own
// $SKIFF_HOME, and cleans up after the test: every cluster down, the broker stopped, no process left.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const SKIFF = join(ROOT, 'dist/broker/cli/main.js');
export const DASK_PYTHON = process.env['SKIFF_PYTHON'] ?? '/usr/bin/python3';
export const DASK_CLIENT = join(ROOT, 'test/integration/fixtures/dask_client.py');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SkiffHome {
  home: string;
  env: NodeJS.ProcessEnv;
  run(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** Processes (pid, command line) whose command line or environment mentions this home. */
  processes(): Array<{ pid: number; cmd: string }>;
  brokerPid(): number | undefined;
  cleanup(): Promise<void>;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** `launcher`: an argv prefix every CLI run goes through (`ip netns exec NS`: the broker and the cluster live there). */
export function makeHome(prefix = 'skiff-test-', o: { launcher?: string[] } = {}): SkiffHome {
  const [launch, ...launchArgs] = o.launcher ?? [process.execPath];
  const cli = (args: string[]): [string, string[]] => [launch ?? process.execPath, o.launcher ? [...launchArgs, process.execPath, SKIFF, ...args] : [SKIFF, ...args]];
  const home = mkdtempSync(join(tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = {
    ...process.env, SKIFF_HOME: home, SKIFF_PYTHON: DASK_PYTHON,
    // pip on the machines sees only the index a test gives it (--pip-index-url): without one it would ask
    // a closed local port, never PyPI; no user pip.conf, and a cache of this home's own.
    PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_CONFIG_FILE: '/dev/null', PIP_CACHE_DIR: join(home, 'pip-cache'),
    // No AWS SDK of the CLI, the broker or the agents asks 169.254.169.254 from this host for credentials.
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  delete env['PIP_FIND_LINKS'];
  delete env['PIP_EXTRA_INDEX_URL'];
  delete env['SKIFF_BROKER_URL'];
  delete env['SKIFF_API_KEY'];
  const processes = (): Array<{ pid: number; cmd: string }> => {
    const out: Array<{ pid: number; cmd: string }> = [];
    const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
    for (const line of ps.split('\n')) {
      const m = /^\s*(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid) continue;
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      } catch {
        // gone, or not ours
      }
      if ((m[2] ?? '').includes(home) || environ.includes(`SKIFF_HOME=${home}\0`)) out.push({ pid, cmd: m[2] ?? '' });
    }
    return out;
  };
  const brokerPid = (): number | undefined => {
    try {
      return (JSON.parse(readFileSync(join(home, 'broker/broker.json'), 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  };
  return {
    home,
    env,
    run: (args, opts = {}) => run(...cli(args), env, opts.timeoutMs ?? 120_000),
    processes,
    brokerPid,
    cleanup: async () => {
      const list = await run(...cli(['list', '--json']), env, 30_000);
      try {
        for (const c of JSON.parse(list.stdout) as Array<{ id: string; state: string }>) {
          if (c.state !== 'stopped') await run(...cli(['down', c.id]), env, 60_000);
        }
      } catch {
        // no broker or no clusters
      }
      await run(...cli(['broker', 'stop']), env, 30_000);
      for (const p of processes()) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Runs the real Dask client fixture: sum(range(100)) on the cluster at `address`. */
export async function daskSum(address: string, ca: string, cert: string, key: string, timeoutS = 15, launcher: string[] = []): Promise<{ ok: boolean; result?: number; error?: string }> {
  const [cmd, ...args] = [...launcher, DASK_PYTHON, DASK_CLIENT, address, ca, cert, key, String(timeoutS)];
  const r = await run(cmd ?? DASK_PYTHON, args, process.env, (timeoutS + 30) * 1000);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as { ok: boolean; result?: number; error?: string };
  } catch {
    return { ok: false, error: `client printed no result (exit ${r.code}): ${r.stderr.slice(-500)}` };
  }
}

