// Scaling a running cluster: the requested worker count (set by `skiff scale`, or by adaptive scaling through
// the scheduler's agent) and a reconciler that makes the machines follow it.
//
//   requested ──► reconcile (on every change, and every intervalMs) ──► backend.machines(plan)
//                   │ a worker stopped that nobody stopped: lost → notification, its machine removed
//                   │ fewer counting workers than requested   → backend.grow (aws: one Fleet request)
//                   │ more                                    → not yet enrolled ones stop at once; for the
//                   │                                            rest a retire request the scheduler's agent
//                   │                                            answers through Dask (workers_to_close picks)
//                   └ a worker with a spot notice              → a retire request naming it; it no longer counts,
//                                                                so a replacement is launched meanwhile
//   agent: retired {id, names} ──► backend.shrink(exactly those machines)
//
// One reconcile per cluster runs at a time; a change while one runs makes it run once more.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { SkiffError } from '../api/errors.js';
import type { AdaptiveBounds, AgentEvent, AgentScaleState, ClusterView } from '../api/wire.js';
import type { ClusterSpec, Machine, MachinePlan } from '../../provisioner/backend.js';
import { clusterView, type ClusterRecord, type Store } from '../store/store.js';
import type { VerifiedToken } from '../api/tokens.js';
import { bounded } from './bounded.js';
import type { Lifecycle } from './lifecycle.js';
import type { ClusterServiceOptions } from './types.js';

/** As `up --workers`. */
export const MAX_WORKERS = 1000;
/** A retire request the scheduler's agent has not answered by then is carried out without Dask's choice. */
const DEFAULT_RETIRE_TIMEOUT_MS = 150_000;
/** Machine ids the broker removed itself, remembered so their stopping is not taken for a loss. */
const REMOVED_KEPT = 500;

export interface ScalingOptions {
  /** How often every running cluster is reconciled, besides after each change (default 5 s). */
  intervalMs?: number;
  retireTimeoutMs?: number;
}

export interface Scaling {
  scale(c: ClusterRecord, raw: unknown): Promise<ClusterView>;
  adapt(c: ClusterRecord, raw: unknown): Promise<ClusterView>;
  agentState(c: ClusterRecord): AgentScaleState;
  event(c: ClusterRecord, claims: VerifiedToken, e: Extract<AgentEvent, { kind: 'retired' | 'adapt' | 'interrupted' }>): Promise<void>;
  /** Makes the machines follow the requested count once more; settles when that pass is over. */
  reconcile(clusterId: string): Promise<void>;
  start(): void;
  close(): void;
}

type Deps = ClusterServiceOptions & { now: () => Date; log: Logger; store: Store; specFor: (c: ClusterRecord) => Promise<ClusterSpec> };

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function wholeCount(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_WORKERS) {
    throw new SkiffError('BRK_BAD_REQUEST', `${what} must be a whole number from 0 to ${MAX_WORKERS}; got ${JSON.stringify(v)}`);
  }
  return v;
}

export function createScaling(o: Deps, life: Lifecycle, opts: ScalingOptions = {}): Scaling {
  const log = o.log.child({ component: 'scaling' });
  const intervalMs = opts.intervalMs ?? 5000;
  const retireTimeoutMs = opts.retireTimeoutMs ?? DEFAULT_RETIRE_TIMEOUT_MS;
  const nowIso = () => o.now().toISOString();
  const passes = new Map<string, { again: boolean; done: Promise<void> }>();
  let timer: NodeJS.Timeout | undefined;

  /** Re-reads the record right before writing it: agent events update it meanwhile. */
  const update = async (id: string, fn: (c: ClusterRecord) => ClusterRecord): Promise<ClusterRecord | undefined> => {
    const cur = await o.store.cluster(id);
    if (!cur) return undefined;
    return o.store.putCluster(fn(cur));
  };
  const notify = async (c: ClusterRecord, reason: string): Promise<void> => {
    const n = await o.store.notify({ at: nowIso(), clusterId: c.id, kind: 'scale', reason });
    log.info({ clusterId: c.id, reason }, 'cluster scaling');
    o.onNotification?.(n, c);
  };
  const mustRun = (c: ClusterRecord, what: string): void => {
    if (c.state !== 'running') {
      throw new SkiffError('BRK_CONFLICT', `cluster ${c.name} is ${c.state}; only a running cluster can ${what}${c.state === 'starting' || c.state === 'pending' ? ' (wait until `skiff status` says running)' : ''}`);
    }
  };
  const maxFor = (c: ClusterRecord): number => Math.min(MAX_WORKERS, life.backendFor(c.backend).maxWorkers ?? MAX_WORKERS);
  /** The name each machine enrolled as (what Dask calls the worker), by machine id. */
  const namesOf = async (clusterId: string): Promise<Map<string, string>> => new Map((await o.store.enrolments(clusterId)).map((e) => [e.machineId, e.name]));

  /** `adaptive`: new bounds, null to turn adaptive scaling off, 'keep' to leave it as it is. */
  const setWorkers = async (c: ClusterRecord, workers: number, adaptive: AdaptiveBounds | null | 'keep', reason: string): Promise<ClusterRecord> => {
    const next = (await update(c.id, (cur) => {
      const r: ClusterRecord = { ...cur, workers, workersChangedAt: nowIso(), updatedAt: nowIso() };
      // The count the cluster was started with no longer limits what "connected" is compared with.
      delete r.workersLaunched;
      if (adaptive === null) delete r.adaptive;
      else if (adaptive !== 'keep') r.adaptive = adaptive;
      return r;
    })) ?? c;
    await notify(next, reason);
    void reconcile(c.id);
    return next;
  };

  const removeMachines = async (c: ClusterRecord, ids: string[], why: string): Promise<ClusterRecord> => {
    if (ids.length === 0 || !c.plan) return c;
    // Marked before they are stopped: a pass listing the machines meanwhile must not take them for lost.
    const marked = (await update(c.id, (cur) => ({ ...cur, removedMachines: [...(cur.removedMachines ?? []), ...ids].slice(-REMOVED_KEPT) }))) ?? c;
    const b = life.backendFor(c.backend);
    const plan = await bounded(`stopping ${plural(ids.length, 'machine')} of ${c.name}`, life.timeouts.destroyMs, b.shrink(marked.plan ?? c.plan, ids, { progress: (m) => log.info({ clusterId: c.id }, m) }));
    log.info({ clusterId: c.id, machines: ids, why }, 'machines removed');
    const gone = new Set(ids);
    // Only the machines removed leave the plan: others may have been added while these stopped.
    return (await update(c.id, (cur) => (cur.plan ? { ...cur, plan: { ...cur.plan, machines: cur.plan.machines.filter((m) => !gone.has(m.id) || plan.machines.some((x) => x.id === m.id)) }, updatedAt: nowIso() } : cur))) ?? c;
  };

  const pass = async (id: string): Promise<void> => {
    let c = await o.store.cluster(id);
    if (!c?.plan || c.state !== 'running') return;
    const b = life.backendFor(c.backend);
    const machines: Machine[] = await bounded(`listing the machines of ${c.name}`, life.timeouts.queryMs, b.machines(c.plan));
    c = await o.store.cluster(id);
    if (!c?.plan || c.state !== 'running') return;
    const names = await namesOf(id);
    const nameOf = (m: Machine) => names.get(m.id) ?? m.name;
    const removed = new Set(c.removedMachines ?? []);
    const workers = machines.filter((m) => m.role === 'worker' && !removed.has(m.id));

    // Lost: a worker machine stopped while nobody asked it to (terminated under us, its agent killed).
    // While Dask retires workers their machines stop on the answer: a loss is judged once that is over.
    const lost = c.retire ? [] : workers.filter((m) => m.state === 'stopped');
    if (lost.length > 0) {
      c = await removeMachines(c, lost.map((m) => m.id), 'lost');
      const live = workers.length - lost.length;
      for (const m of lost) {
        await notify(c, `${nameOf(m)} (${m.id}) lost: its machine stopped without being asked to${live < c.workers ? '; launching a replacement' : ''}`);
      }
      const lostNames = new Set(lost.map(nameOf));
      c = (await update(id, (cur) => ({ ...cur, ...(cur.interrupted ? { interrupted: cur.interrupted.filter((n) => !lostNames.has(n)) } : {}) }))) ?? c;
    }
    const live = workers.filter((m) => m.state !== 'stopped');
    const interrupted = new Set(c.interrupted ?? []);
    const counting = live.filter((m) => !interrupted.has(nameOf(m)));
    const missing = c.workers - counting.length;

    if (missing > 0) {
      const spec = await o.specFor(c);
      const notices: string[] = [];
      const hooks = { progress: (m: string) => log.info({ clusterId: id }, m), notice: (m: string) => void (notices.length < 5 && notices.push(m.slice(0, 500))), launched: (ms: MachinePlan[]) => life.recordLaunched(id, ms) };
      const out = await bounded(`launching ${plural(missing, 'worker')} for ${c.name}`, life.timeouts.destroyMs, b.grow(spec, c.plan as NonNullable<ClusterRecord['plan']>, missing, hooks));
      const known = new Set((c.plan?.machines ?? []).map((m) => m.id));
      const added = out.plan.machines.filter((m) => !known.has(m.id));
      const cur = (await update(id, (r) => (r.plan ? { ...r, plan: { ...r.plan, machines: [...r.plan.machines, ...added.filter((m) => !r.plan?.machines.some((x) => x.id === m.id))], detail: out.plan.detail }, updatedAt: nowIso() } : r))) ?? c;
      if (cur.state !== 'running') {
        // Stopped while the machines were being launched: they must not outlive the cluster.
        await b.shrink(out.plan, out.machines.map((m) => m.id)).catch((err: unknown) => log.error({ clusterId: id, err }, 'removing workers launched after a stop failed; run skiff gc'));
        return;
      }
      c = cur;
      await notify(c, `launched ${plural(out.machines.length, 'worker')} (${out.machines.map((m) => m.name).join(', ')}) towards ${c.workers}` +
        (out.machines.length < missing ? `; only ${out.machines.length} of ${missing} could be launched now, retrying` : '') +
        notices.map((n) => `; ${n}`).join(''));
    } else if (missing < 0) {
      // Machines that never enrolled hold no data: they go first, without asking Dask.
      const excess = -missing;
      const enrolled = new Set((await o.store.enrolments(id)).map((e) => e.machineId));
      const fresh = counting.filter((m) => !enrolled.has(m.id)).slice(-excess);
      if (fresh.length > 0) {
        c = await removeMachines(c, fresh.map((m) => m.id), 'not enrolled yet');
        await notify(c, `stopped ${plural(fresh.length, 'worker')} still booting (${fresh.map(nameOf).join(', ')}) towards ${c.workers}`);
      }
      const rest = excess - fresh.length;
      if (rest > 0 && !c.retire) {
        c = (await update(id, (cur) => ({ ...cur, retire: { id: randomBytes(6).toString('hex'), count: rest, at: nowIso() } }))) ?? c;
        log.info({ clusterId: id, count: rest }, 'asked the scheduler to retire workers');
      }
    }

    // Workers with a notice are retired by name, ahead of any count.
    const noticed = live.filter((m) => interrupted.has(nameOf(m))).map(nameOf);
    if (noticed.length > 0 && !c.retire) {
      c = (await update(id, (cur) => ({ ...cur, retire: { id: randomBytes(6).toString('hex'), names: noticed, at: nowIso() } }))) ?? c;
    }

    // A retire request nobody answered: carried out without Dask's choice, so the cluster still follows.
    if (c.retire && o.now().getTime() - Date.parse(c.retire.at) > retireTimeoutMs) {
      const r = c.retire;
      const byName = new Map(live.map((m) => [nameOf(m), m]));
      const chosen = r.names ? r.names.flatMap((n) => byName.get(n) ?? []) : counting.slice(-(r.count ?? 0));
      c = (await update(id, (cur) => {
        const next = { ...cur };
        delete next.retire;
        return next;
      })) ?? c;
      c = await removeMachines(c, chosen.map((m) => m.id), 'retire timed out');
      await notify(c, `the scheduler did not retire ${plural(chosen.length, 'worker')} within ${Math.round(retireTimeoutMs / 1000)} s; stopped ${chosen.map(nameOf).join(', ') || 'none'} without moving their data`);
    }
  };

  const reconcile = (id: string): Promise<void> => {
    // Another broker leads: it reconciles every running cluster at its next interval.
    if (o.isLeader && !o.isLeader()) return Promise.resolve();
    const running = passes.get(id);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { again: false, done: Promise.resolve() };
    entry.done = (async () => {
      do {
        entry.again = false;
        try {
          await pass(id);
        } catch (err) {
          log.warn({ clusterId: id, err: (err as Error).message }, 'scaling pass failed; retrying at the next one');
        }
      } while (entry.again);
    })().finally(() => passes.delete(id));
    passes.set(id, entry);
    return entry.done;
  };

  return {
    async scale(c, raw) {
      const workers = wholeCount((raw as { workers?: unknown } | undefined)?.workers, 'the worker count');
      mustRun(c, 'be scaled');
      const max = maxFor(c);
      if (workers > max) throw new SkiffError('BRK_BAD_REQUEST', `the ${c.backend} backend runs 0 to ${max} workers; ${workers} was asked for`);
      const off = c.adaptive ? '; adaptive scaling is off' : '';
      if (workers === c.workers && !c.adaptive) return clusterView(c);
      return clusterView(await setWorkers(c, workers, null, `scaled from ${c.workers} to ${plural(workers, 'worker')} by the user${off}`));
    },

    async adapt(c, raw) {
      const r = (raw ?? {}) as { minimum?: unknown; maximum?: unknown; off?: unknown };
      if (r.off === true) {
        mustRun(c, 'change adaptive scaling');
        if (!c.adaptive) return clusterView(c);
        const next = (await update(c.id, (cur) => {
          const n = { ...cur, updatedAt: nowIso() };
          delete n.adaptive;
          return n;
        })) ?? c;
        await notify(next, `adaptive scaling off; the cluster keeps ${plural(next.workers, 'worker')}`);
        return clusterView(next);
      }
      const minimum = wholeCount(r.minimum, '--minimum');
      const maximum = wholeCount(r.maximum, '--maximum');
      if (minimum > maximum) throw new SkiffError('BRK_BAD_REQUEST', `--minimum ${minimum} is above --maximum ${maximum}; give a minimum no larger than the maximum`);
      mustRun(c, 'adapt');
      const max = maxFor(c);
      if (maximum > max) throw new SkiffError('BRK_BAD_REQUEST', `the ${c.backend} backend runs 0 to ${max} workers; --maximum ${maximum} was asked for`);
      const workers = Math.min(maximum, Math.max(minimum, c.workers));
      return clusterView(await setWorkers(c, workers, { minimum, maximum }, `adaptive scaling on: ${minimum} to ${plural(maximum, 'worker')}${workers !== c.workers ? `; ${c.workers} → ${workers} to fit` : ''}`));
    },

    agentState(c) {
      const r = c.retire;
      return {
        workers: c.workers,
        changedAt: c.workersChangedAt ?? c.createdAt,
        ...(c.adaptive ? { adaptive: c.adaptive } : {}),
        ...(r ? { retire: { id: r.id, ...(r.count !== undefined ? { count: r.count } : {}), ...(r.names ? { names: r.names } : {}) } } : {}),
      };
    },

    async event(c, claims, e) {
      switch (e.kind) {
        case 'retired': {
          if (claims.role !== 'scheduler' || typeof e.id !== 'string' || !Array.isArray(e.names)) throw new SkiffError('BRK_BAD_REQUEST', 'bad retired event');
          if (c.retire?.id !== e.id) return; // answered already, or replaced by a newer request
          const asked = c.retire;
          const names = e.names.map(String);
          const byName = new Map((await o.store.enrolments(c.id)).map((x) => [x.name, x.machineId]));
          const ids = names.flatMap((n) => byName.get(n) ?? []);
          let cur = (await update(c.id, (r) => {
            const next = { ...r, ...(r.interrupted ? { interrupted: r.interrupted.filter((n) => !names.includes(n)) } : {}) };
            delete next.retire;
            return next;
          })) ?? c;
          cur = await removeMachines(cur, ids, 'retired by Dask');
          const wanted = asked.names?.length ?? asked.count ?? 0;
          if (names.length > 0) {
            await notify(cur, `Dask retired ${names.join(', ')} (${asked.names ? 'after a notice from the cloud' : 'its choice'}; data moved to the other workers) and ${names.length === 1 ? 'its machine was' : 'their machines were'} stopped`);
          }
          if (names.length < wanted) log.info({ clusterId: c.id, wanted, retired: names.length }, 'Dask retired fewer workers than asked (they hold data no other worker can take); asking again');
          void reconcile(c.id);
          return;
        }
        case 'adapt': {
          if (claims.role !== 'scheduler' || typeof e.workers !== 'number' || !Number.isInteger(e.workers)) throw new SkiffError('BRK_BAD_REQUEST', 'bad adapt event');
          if (!c.adaptive || c.state !== 'running') return; // turned off meanwhile
          const workers = Math.min(c.adaptive.maximum, Math.max(c.adaptive.minimum, e.workers));
          if (workers === c.workers) return;
          await setWorkers(c, workers, 'keep', `adaptive: Dask's target is ${plural(Number(e.target), 'worker')}; ${c.workers} → ${workers}`);
          return;
        }
        case 'interrupted': {
          if (claims.role !== 'worker' || claims.sub === undefined) throw new SkiffError('BRK_FORBIDDEN', 'only a worker reports its own notice');
          const name = (await o.store.enrolment(c.id, claims.sub))?.name;
          if (!name || (c.interrupted ?? []).includes(name) || c.state !== 'running') return;
          const what = e.notice === 'rebalance' ? 'a rebalance recommendation' : 'a spot interruption notice';
          const cur = (await update(c.id, (r) => ({ ...r, interrupted: [...(r.interrupted ?? []), name], updatedAt: nowIso() }))) ?? c;
          await notify(cur, `${name} (${claims.sub}) got ${what} (${String(e.detail).slice(0, 200)}); retiring it through Dask and launching a replacement`);
          void reconcile(c.id);
          return;
        }
      }
    },

    reconcile,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        o.store.clusters().then(
          (all) => {
            for (const c of all) if (c.state === 'running') void reconcile(c.id);
          },
          (err: unknown) => log.warn({ err: (err as Error).message }, 'listing clusters to reconcile failed; retrying at the next interval'),
        );
      }, intervalMs);
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
