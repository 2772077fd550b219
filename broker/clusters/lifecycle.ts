// A cluster's states and the moves between them, each a notification; the launch that takes it from pending
// to starting; failure (with the machines' last lines, and every machine stopped); the start deadline.
//
//   create ──► pending ──apply──► starting ──scheduler ready + launched workers──► running
//                 │                  │                                              │
//                 ├──── failed ◄─────┴──── (apply error, boot failure, deadline) ───┤
//                 └─────────────────── down ──► stopping ──► stopped ◄── (fail-safe, seen at recovery)

import type { Logger } from 'pino';
import { SkiffError } from '../api/errors.js';
import type { BackendName, ClusterState, WatchdogSettings } from '../api/wire.js';
import type { Backend, ClusterSpec, MachinePlan } from '../../provisioner/backend.js';
import type { ClusterRecord, Store } from '../store/store.js';
import { formatDuration } from '../api/durations.js';
import { bounded } from './bounded.js';
import { createStartDeadlines } from './start-deadline.js';
import type { BackendTimeouts, ClusterServiceOptions } from './types.js';

export const LAST_LINES = 20;

/** Where each state may go. Staying in a state (a record update) is always allowed. */
const NEXT: Readonly<Record<ClusterState, readonly ClusterState[]>> = {
  pending: ['starting', 'stopping', 'failed'],
  starting: ['running', 'stopping', 'stopped', 'failed'],
  running: ['stopping', 'stopped', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

export interface Lifecycle {
  setState(c: ClusterRecord, state: ClusterState, reason?: string): Promise<ClusterRecord>;
  /** Fail the cluster (unless already over) and stop its machines. */
  fail(clusterId: string, reason: string, lastLogLines?: string[]): Promise<void>;
  maybeRunning(clusterId: string): Promise<void>;
  /** Runs the backend's apply for a new cluster; the promise settles when the launch is over, whatever its end. */
  launch(c: ClusterRecord, spec: ClusterSpec): Promise<void>;
  launched(clusterId: string): Promise<void>;
  /** Puts machines a cloud just launched on the cluster's record (its plan's machines): only those may enrol. */
  recordLaunched(clusterId: string, machines: readonly MachinePlan[]): Promise<void>;
  armDeadline(c: ClusterRecord): void;
  backendFor(name: BackendName): Backend;
  timeouts: BackendTimeouts;
  close(): void;
}

export interface LifecycleOptions {
  now: () => Date;
  log: Logger;
  store: Store;
  /** The cluster reached stopped or failed: what only a live cluster needs (its CA key) goes. */
  onOver?: (clusterId: string) => void;
}

export function createLifecycle(o: ClusterServiceOptions & LifecycleOptions): Lifecycle {
  const log = o.log;
  const timeouts: BackendTimeouts = { destroyMs: 15 * 60_000, queryMs: 60_000, ...o.backendTimeouts };
  const nowIso = () => o.now().toISOString();
  const watchdogOf = (c: ClusterRecord): WatchdogSettings => ({ ...o.workspaceWatchdog, ...c.watchdog });
  // A cluster that leaves pending/starting no longer has a start deadline, and an apply still running for
  // it is told to stop (its signal), so nothing is launched for a cluster that is already over.
  const launches = new Map<string, { abort: AbortController; done: Promise<void> }>();

  const backendFor = (name: BackendName): Backend => {
    const b = o.backends[name];
    if (!b) throw new SkiffError('PRV_UNKNOWN_BACKEND', `backend "${name}" is not configured on this broker; available: ${Object.keys(o.backends).join(', ')}`);
    return b;
  };

  const setState = async (c: ClusterRecord, state: ClusterState, reason?: string): Promise<ClusterRecord> => {
    if (state !== c.state && !NEXT[c.state].includes(state)) {
      throw new SkiffError('BRK_INTERNAL', `cluster ${c.id} cannot go from ${c.state} to ${state}`);
    }
    let next: ClusterRecord = { ...c, state, updatedAt: nowIso() };
    if (reason !== undefined) next.reason = reason;
    next = await o.store.putCluster(next);
    if (state === 'stopped' || state === 'failed') o.onOver?.(c.id);
    if (state !== 'pending' && state !== 'starting') {
      deadlines.disarm(c.id);
      if (state !== 'running') launches.get(c.id)?.abort.abort(new SkiffError('PRV_LAUNCH_FAILED', `cluster ${c.id} is ${state}`));
    }
    if (state !== c.state) {
      const n = await o.store.notify({ at: next.updatedAt, clusterId: c.id, kind: 'state', state, ...(reason !== undefined ? { reason } : {}) });
      log.info({ clusterId: c.id, from: c.state, to: state, reason }, 'cluster state changed');
      if (state === 'running') o.watchdog?.track(c.id, watchdogOf(c));
      else if (state !== 'pending' && state !== 'starting') o.watchdog?.untrack(c.id);
      o.onNotification?.(n, next);
    }
    return next;
  };

  const destroy = async (c: ClusterRecord, what: string): Promise<void> => {
    const b = o.backends[c.backend];
    if (!b || !c.plan) return;
    await bounded(`stopping the machines of ${c.id}`, timeouts.destroyMs, b.destroy(c.plan)).catch((err: unknown) =>
      log.error({ clusterId: c.id, err }, `${what}; run skiff gc`),
    );
  };

  const fail = async (clusterId: string, reason: string, lastLogLines?: string[]): Promise<void> => {
    let c = await o.store.cluster(clusterId);
    if (!c || c.state === 'stopped' || c.state === 'failed') return;
    const b = o.backends[c.backend];
    let lines = lastLogLines;
    // The Dask process may have printed nothing (a missing interpreter): then the agents' own logs say why.
    if (b && c.plan && (!lines || lines.length === 0)) {
      lines = await bounded('reading the last log lines', timeouts.queryMs, b.lastLogLines(c.plan, LAST_LINES)).catch(() => []);
    }
    c = { ...c, ...(lines ? { lastLogLines: lines.slice(-LAST_LINES) } : {}) };
    c = await setState(c, 'failed', reason);
    await destroy(c, 'cleanup after failure failed');
  };

  const maybeRunning = async (id: string): Promise<void> => {
    const cur = await o.store.cluster(id);
    const expected = cur?.workersLaunched ?? cur?.workers ?? 0;
    // With the client's versions known, running also waits for their comparison with every worker, so `up`
    // shows a mismatch when it says running.
    const checked = cur?.software?.client === undefined || (cur.versionsChecked ?? -1) >= expected;
    if (cur && cur.state === 'starting' && cur.schedulerReady && cur.workersReady >= expected && checked) await setState(cur, 'running');
  };

  /** The start deadline has come: a cluster not running by now fails, saying what was missing. */
  const expire = async (id: string): Promise<void> => {
    const c = await o.store.cluster(id);
    if (!c || (c.state !== 'pending' && c.state !== 'starting')) return;
    const enrolled = await o.store.enrolments(id);
    const expected = c.workersLaunched ?? c.workers;
    const missing =
      c.state === 'pending' ? 'the machines were still being requested'
      : !enrolled.some((e) => e.role === 'scheduler') ? 'the scheduler never enrolled'
      : !c.schedulerReady ? 'the scheduler enrolled but its Dask never answered'
      : `${c.workersReady}/${expected} workers connected`;
    const timeoutMs = c.startDeadline ? Date.parse(c.startDeadline) - Date.parse(c.createdAt) : 0;
    await fail(id, `not running within ${formatDuration(timeoutMs)}: ${missing} (${enrolled.length}/${expected + 1} machines enrolled)`);
  };
  const deadlines = createStartDeadlines({
    now: () => o.now().getTime(),
    onExpire: (id) => {
      expire(id).catch((err: unknown) => log.error({ clusterId: id, err }, 'failing a cluster at its start deadline failed'));
    },
  });

  const recordLaunched = async (clusterId: string, machines: readonly MachinePlan[]): Promise<void> => {
    const cur = await o.store.cluster(clusterId);
    if (!cur?.plan) return;
    const known = new Set(cur.plan.machines.map((m) => m.id));
    const fresh = machines.filter((m) => !known.has(m.id));
    if (fresh.length === 0) return;
    await o.store.putCluster({ ...cur, plan: { ...cur.plan, machines: [...cur.plan.machines, ...fresh] }, updatedAt: nowIso() });
    log.info({ clusterId, machines: fresh.map((m) => m.id) }, 'machines launched');
  };

  // pending while the backend creates resources; starting once every machine is requested.
  const runLaunch = async (c: ClusterRecord, spec: ClusterSpec, abort: AbortController): Promise<void> => {
    const b = backendFor(c.backend);
    try {
      if (!c.plan) throw new SkiffError('PRV_LAUNCH_FAILED', 'cluster has no plan');
      // No bound of its own: the start deadline fails the cluster, which aborts the apply through its signal.
      // A notice (e.g. spot_with_fallback ending on-demand) becomes the reason of the move to starting: `up` prints it,
      // `status` keeps it, and the state change is notified with it.
      const notices: string[] = [];
      const machines = await b.apply(spec, c.plan, {
        progress: (m) => log.info({ clusterId: c.id }, m),
        notice: (m) => {
          log.warn({ clusterId: c.id }, m);
          if (notices.length < 5) notices.push(m.slice(0, 500));
        },
        signal: abort.signal,
        launched: (ms) => recordLaunched(c.id, ms),
      });
      const cur = await o.store.cluster(c.id);
      if (!cur?.plan || cur.state !== 'pending') {
        // Stopped or failed while the apply ran: what it launched after that stop must not outlive it.
        await destroy(c, 'removing machines launched after a stop failed');
        return;
      }
      // A cloud assigns addresses at launch: the scheduler's become known only now.
      const sm = machines.find((m) => m.role === 'scheduler');
      const scheduler = {
        ...cur.plan.scheduler,
        ...(cur.plan.scheduler.privateHost === '' && sm?.privateHost ? { privateHost: sm.privateHost } : {}),
        ...(cur.plan.scheduler.publicHost === '' && sm?.publicHost ? { publicHost: sm.publicHost } : {}),
      };
      const launched = machines.filter((m) => m.role === 'worker').length;
      const short = launched < cur.workers ? `${launched} of ${cur.workers} workers could be launched; the cluster runs with those` : undefined;
      const reason = [short, ...notices].filter((r) => r !== undefined).join('; ') || undefined;
      await setState({ ...cur, plan: { ...cur.plan, scheduler }, workersLaunched: launched }, 'starting', reason);
      await maybeRunning(c.id);
    } catch (err) {
      const cur = await o.store.cluster(c.id);
      if (cur && cur.state !== 'pending') {
        await destroy(c, 'removing machines launched after a stop failed');
        return;
      }
      log.error({ clusterId: c.id, err }, 'launch failed');
      await fail(c.id, `launch failed: ${(err as Error).message}`);
    }
  };

  return {
    setState,
    fail,
    maybeRunning,
    backendFor,
    timeouts,
    launch(c, spec) {
      const abort = new AbortController();
      const done = runLaunch(c, spec, abort).finally(() => launches.delete(c.id));
      launches.set(c.id, { abort, done });
      return done;
    },
    launched: (id) => launches.get(id)?.done ?? Promise.resolve(),
    recordLaunched,
    armDeadline(c) {
      if (c.startDeadline) deadlines.arm(c.id, Date.parse(c.startDeadline));
    },
    // A launch still running goes on until the process ends; the next broker's recovery fails what it left pending.
    close: () => deadlines.close(),
  };
}
