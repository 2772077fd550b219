// The `local` backend: every "machine" is a detached agent process on this computer with a directory of
// its own under <machinesDir>/<clusterId>/<machineId>. It needs no cloud account, which makes it the
// default a new user meets first, and the backend the end-to-end tests drive.
//
// Each agent is started in its own process group (detached), so destroy() can stop the agent and the
// Dask process it supervises together, even if the agent itself is wedged.

import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SkiffError } from '../../broker/api/errors.js';
import type { ApplyHooks, Backend, ClusterPlan, ClusterSpec, Machine, MachinePlan } from '../backend.js';
import { freeLocalPort } from './ports.js';
import { processAlive, processGroupAlive } from './processes.js';
import type { AgentConfig } from '../../broker/api/agent-config.js';

export interface LocalBackendOptions {
  machinesDir: string;
  /** Python with Debian's python3-distributed. */
  python: string;
  /** Seconds to wait for an agent to exit after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
  spawn?: typeof nodeSpawn;
  /** Extra environment for agents (tests use it to shorten timers). */
  agentEnv?: Record<string, string>;
  /** Software environments shared by every local machine and cluster (default: envs beside machinesDir). */
  envsDir?: string;
}

const MAX_WORKERS = 64;

function agentEntry(): { script: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { script: fileURLToPath(new URL('../../agent/main.ts', here)), execArgv: ['--import', 'tsx'] };
  }
  // The one-file bundle VMs download (built by `npm run build`): it starts faster than the module tree,
  // and every local cluster exercises exactly what a VM runs.
  const bundle = fileURLToPath(new URL('../../agent-bundle/agent/main.js', here));
  if (existsSync(bundle)) return { script: bundle, execArgv: [] };
  return { script: fileURLToPath(new URL('../../agent/main.js', here)), execArgv: [] };
}

export function createLocalBackend(opts: LocalBackendOptions): Backend {
  const spawn = opts.spawn ?? nodeSpawn;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  const clusterDir = (clusterId: string) => join(opts.machinesDir, clusterId);
  const machineDir = (clusterId: string, machineId: string) => join(clusterDir(clusterId), machineId);

  const readPid = (dir: string): number | undefined => {
    try {
      const pid = Number(readFileSync(join(dir, 'agent.pid'), 'utf8'));
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  const machineState = (plan: ClusterPlan, m: MachinePlan): Machine => {
    const dir = machineDir(plan.clusterId, m.id);
    const pid = readPid(dir);
    const state = pid !== undefined && processAlive(pid) ? 'running' : existsSync(dir) ? 'stopped' : 'starting';
    // The workers share this computer's CPUs, as Dask's LocalCluster shares them.
    const workers = plan.machines.filter((x) => x.role === 'worker').length;
    const vcpus = Math.max(1, Math.floor(availableParallelism() / Math.max(1, workers)));
    return { ...m, state, privateHost: '127.0.0.1', publicHost: '127.0.0.1', vcpus };
  };

  /** SIGTERM to each agent's process group (the agent and its Dask), SIGKILL after stopTimeoutMs. */
  const stopGroups = async (pids: number[], hooks: ApplyHooks): Promise<void> => {
    for (const pid of pids) signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + stopTimeoutMs;
    while (pids.some(processGroupAlive) && Date.now() < deadline) await sleep(100);
    for (const pid of pids.filter(processGroupAlive)) {
      hooks.progress?.(`agent ${pid} did not stop within ${stopTimeoutMs} ms; killing it`);
      signalGroup(pid, 'SIGKILL');
    }
    while (pids.some(processGroupAlive) && Date.now() < deadline + 5000) await sleep(50);
  };

  /** Starts one machine's agent, detached in its own process group. */
  const startMachine = (spec: ClusterSpec, plan: ClusterPlan, m: MachinePlan, hooks: ApplyHooks): Machine => {
    const { script, execArgv } = agentEntry();
    const dir = machineDir(plan.clusterId, m.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const config: AgentConfig = {
      brokerUrl: spec.brokerUrl,
      enrolToken: spec.enrolTokens[m.role],
      clusterId: plan.clusterId,
      machineId: m.id,
      role: m.role,
      machineDir: dir,
      python: opts.python,
      listenHost: '127.0.0.1',
      // All local machines are this computer: one environment per spec serves every cluster.
      envsDir: opts.envsDir ?? join(dirname(opts.machinesDir), 'envs'),
    };
    writeFileSync(join(dir, 'agent.json'), JSON.stringify(config, null, 2), { mode: 0o600 });
    const out = openSync(join(dir, 'agent.log'), 'a', 0o600);
    const child = spawn(process.execPath, [...execArgv, script, '--config', join(dir, 'agent.json')], {
      detached: true,
      stdio: ['ignore', out, out],
      cwd: dir,
      env: { ...process.env, ...opts.agentEnv },
    });
    closeSync(out);
    if (child.pid === undefined) throw new SkiffError('PRV_LAUNCH_FAILED', `could not start the agent for ${m.name}`);
    writeFileSync(join(dir, 'agent.pid'), String(child.pid), { mode: 0o600 });
    child.unref();
    hooks.progress?.(`started ${m.name} (pid ${child.pid})`);
    return { ...m, state: 'starting', privateHost: '127.0.0.1', publicHost: '127.0.0.1' };
  };

  return {
    name: 'local',
    maxWorkers: MAX_WORKERS,

    async plan(spec: ClusterSpec): Promise<ClusterPlan> {
      if (!Number.isInteger(spec.workers) || spec.workers < 0 || spec.workers > MAX_WORKERS) {
        throw new SkiffError('PRV_INVALID_REQUEST', `the local backend runs 0 to ${MAX_WORKERS} workers; ${spec.workers} was asked for`);
      }
      const unknown = Object.keys(spec.options ?? {});
      if (unknown.length > 0) {
        throw new SkiffError('PRV_INVALID_REQUEST', `the local backend takes no options; got ${unknown.join(', ')}`);
      }
      const [daskPort, gatewayPort, httpPort, telemetryPort] = [await freeLocalPort(), await freeLocalPort(), await freeLocalPort(), await freeLocalPort()];
      const machines: MachinePlan[] = [{ id: 'scheduler', role: 'scheduler', name: 'scheduler' }];
      for (let i = 1; i <= spec.workers; i++) machines.push({ id: `worker-${i}`, role: 'worker', name: `worker-${i}` });
      return {
        backend: 'local',
        clusterId: spec.clusterId,
        scheduler: { privateHost: '127.0.0.1', publicHost: '127.0.0.1', daskPort, gatewayPort, httpPort, telemetryPort },
        machines,
        workspace: spec.workspace,
        detail: { machinesDir: opts.machinesDir },
      };
    },

    async apply(spec: ClusterSpec, plan: ClusterPlan, hooks: ApplyHooks = {}): Promise<Machine[]> {
      const started: Machine[] = [];
      try {
        for (const m of plan.machines) {
          const dir = machineDir(plan.clusterId, m.id);
          const existing = readPid(dir);
          if (existing !== undefined && processAlive(existing)) {
            started.push(machineState(plan, m)); // a rerun converges: this machine is already up
            continue;
          }
          started.push(startMachine(spec, plan, m, hooks));
        }
      } catch (err) {
        await this.destroy(plan);
        throw err;
      }
      return started;
    },

    async grow(spec: ClusterSpec, plan: ClusterPlan, count: number, hooks: ApplyHooks = {}) {
      const workers = plan.machines.filter((m) => m.role === 'worker').length;
      if (!Number.isInteger(count) || count < 1 || workers + count > MAX_WORKERS) {
        throw new SkiffError('PRV_INVALID_REQUEST', `the local backend runs 0 to ${MAX_WORKERS} workers; ${workers + count} was asked for`);
      }
      // Names are never reused: each new machine enrols once, as itself (worker-4 after worker-1..3, even if 2 left).
      // Machines that left are gone from the plan but not from the disk: their directories keep the numbers taken.
      const dir = clusterDir(plan.clusterId);
      const onDisk = existsSync(dir) ? readdirSync(dir) : [];
      const taken = [...plan.machines.map((m) => m.id), ...onDisk].map((id) => Number(/^worker-(\d+)$/.exec(id)?.[1] ?? 0));
      let next = Math.max(0, ...taken, Number(plan.detail['lastWorker'] ?? 0)) + 1;
      const fresh: MachinePlan[] = [];
      for (let i = 0; i < count; i++, next++) fresh.push({ id: `worker-${next}`, role: 'worker', name: `worker-${next}` });
      const grown: ClusterPlan = { ...plan, machines: [...plan.machines, ...fresh], detail: { ...plan.detail, lastWorker: next - 1 } };
      const started: Machine[] = [];
      try {
        for (const m of fresh) started.push(startMachine(spec, grown, m, hooks));
      } catch (err) {
        await this.shrink(grown, fresh.map((m) => m.id));
        throw err;
      }
      return { plan: grown, machines: started };
    },

    async shrink(plan: ClusterPlan, machineIds: readonly string[], hooks: ApplyHooks = {}): Promise<ClusterPlan> {
      const gone = new Set(machineIds);
      const pids = machineIds.map((id) => readPid(machineDir(plan.clusterId, id))).filter((p): p is number => p !== undefined && processAlive(p));
      await stopGroups(pids, hooks);
      for (const id of machineIds) rmSync(join(machineDir(plan.clusterId, id), 'agent.pid'), { force: true });
      return { ...plan, machines: plan.machines.filter((m) => !gone.has(m.id)) };
    },

    attest(plan: ClusterPlan, machineId: string): Promise<Machine | undefined> {
      const m = plan.machines.find((x) => x.id === machineId);
      if (!m || !existsSync(machineDir(plan.clusterId, machineId))) return Promise.resolve(undefined);
      return Promise.resolve(machineState(plan, m));
    },

    machines(plan: ClusterPlan): Promise<Machine[]> {
      return Promise.resolve(plan.machines.map((m) => machineState(plan, m)));
    },

    async destroy(plan: ClusterPlan, hooks: ApplyHooks = {}): Promise<void> {
      const dir = clusterDir(plan.clusterId);
      const ids = existsSync(dir) ? readdirSync(dir) : [];
      const pids = ids.map((id) => readPid(join(dir, id))).filter((p): p is number => p !== undefined && processAlive(p));
      await stopGroups(pids, hooks);
      // The machine is gone: its enrol token (agent.json), agent token (enrolment.json) and key (tls/) go with
      // it; its log (agent.log, read for a failure's last lines) and the log spool stay.
      for (const id of ids) {
        for (const f of ['agent.pid', 'agent.json', 'enrolment.json', 'tls']) rmSync(join(dir, id, f), { recursive: true, force: true });
      }
    },

    lastLogLines(plan: ClusterPlan, maxLines: number): Promise<string[]> {
      const lines: string[] = [];
      for (const m of plan.machines) {
        try {
          const text = readFileSync(join(machineDir(plan.clusterId, m.id), 'agent.log'), 'utf8');
          for (const l of text.split('\n').filter(Boolean).slice(-maxLines)) lines.push(`${m.name}: ${l}`);
        } catch {
          // never started
        }
      }
      return Promise.resolve(lines.slice(-maxLines));
    },
  };
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}
