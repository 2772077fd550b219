// The broker's records: clusters, enrolments (one per machine: the record that makes an enrol token
// single-use), issued certificates, notifications (every state change), access grants and sealed blobs.
// One async interface, two stores: the journal (a local file, the local broker's; see journal.ts) and one
// DynamoDB table (the deployed broker's; see dynamo-store.ts). Both pass the same contract tests.

import type { ClusterState, ClusterView, Role, WatchdogSettings } from '../api/wire.js';
import type { ClusterPlan } from '../../provisioner/backend.js';
import { openJournal, type Journal } from './journal.js';
import { softwareView } from '../api/software.js';
import { SkiffError } from '../api/errors.js';

/** What the API shows of a cluster, plus what only the broker keeps (the plan, settings, the webhook). */
export interface ClusterRecord extends Omit<ClusterView, 'scheduler'> {
  workspace: string;
  /**
   * Counts the record's writes (1 after the first): set by the store, never by its callers. A write made with
   * `ifVersion` lands only on the version it read, so two brokers never both decide on one cluster.
   */
  version?: number;
  schedulerReady: boolean;
  plan?: ClusterPlan;
  watchdog?: WatchdogSettings;
  /** Not shown by the API: a webhook URL (Slack's, say) is a secret of its own. */
  webhookUrl?: string;
  /** Workers the scheduler's agent has compared with the client's versions (running waits for all of them). */
  versionsChecked?: number;
  /** When the requested worker count last changed (ISO): adaptive scale-down keeps a cool-down after it. */
  workersChangedAt?: string;
  /** The open retire request the scheduler's agent answers (retiring through Dask), and when it was made. */
  retire?: { id: string; count?: number; names?: string[]; at: string };
  /** Workers (by name) whose machine got a notice (spot interruption): retired and replaced. */
  interrupted?: string[];
  /** Machines the broker stopped on purpose (retired, not enrolled yet): their stopping is no loss. Bounded. */
  removedMachines?: string[];
}

export interface EnrolmentRecord {
  clusterId: string;
  machineId: string;
  role: Role;
  name: string;
  serialHex: string;
  enrolledAt: string;
}

export interface CertificateRecord {
  clusterId: string;
  serialHex: string;
  profile: 'node' | 'user';
  subject: string;
  notAfter: string;
  issuedAt: string;
}

export interface NotificationRecord {
  seq: number;
  at: string;
  clusterId: string;
  /** A state change (the watchdog's stops included, with their reason) or an alert (e.g. idle GPUs). */
  kind: 'state' | 'alert' | 'scale';
  state?: ClusterState;
  reason?: string;
}

export const ACTIVE_STATES: readonly ClusterState[] = ['pending', 'starting', 'running', 'stopping'];

/** Who may use a broker that knows its callers (aws-iam auth): an ARN or a pattern of ARNs (`*` matches any run). */
export interface AccessGrant {
  pattern: string;
  admin: boolean;
  grantedBy: string;
  grantedAt: string;
}

/**
 * What the watchdog's rules need of a running cluster, written by whichever broker receives its telemetry and read
 * by the one that leads. Kept apart from the cluster record: small (a leader reads all of them in one request), and
 * its frequent writes never bump the record's version (they decide nothing). Written coarsely (see watch-state.ts).
 */
export interface WatchState {
  clusterId: string;
  /** The last summary this state includes (broker clock, ISO). */
  heartbeatAt: string;
  /** The last summary with tasks processing, queued or waiting for a worker (or when watching began). */
  activeAt: string;
  /** Tasks were running at heartbeatAt. */
  busy: boolean;
  clients: number;
  /** Since when no client is connected; absent while one is. */
  noClientSince?: string;
}

/** A named lease (the broker leader's): held by `holder` until `expiresAtMs` (epoch ms, the holder's clock). */
export interface Lease {
  name: string;
  holder: string;
  expiresAtMs: number;
}

export interface PutOptions {
  /**
   * Write only if the stored record still has this version (0: only if there is none yet); otherwise the write
   * is refused with BRK_CONFLICT and nothing changes. Without it the write lands whatever is stored.
   */
  ifVersion?: number;
}

export interface Store {
  /** Every cluster, oldest first. */
  clusters(): Promise<ClusterRecord[]>;
  cluster(id: string): Promise<ClusterRecord | undefined>;
  /** By id, or by name (the newest cluster of that name). */
  findCluster(ref: string): Promise<ClusterRecord | undefined>;
  /** Stores the record with its version one above the stored one; resolves to the record as stored. */
  putCluster(c: ClusterRecord, opts?: PutOptions): Promise<ClusterRecord>;
  enrolment(clusterId: string, machineId: string): Promise<EnrolmentRecord | undefined>;
  enrolments(clusterId: string): Promise<EnrolmentRecord[]>;
  /** Refused with BRK_ALREADY_ENROLLED when the machine has an enrolment already. */
  putEnrolment(e: EnrolmentRecord): Promise<void>;
  putCertificate(c: CertificateRecord): Promise<void>;
  certificates(clusterId: string): Promise<CertificateRecord[]>;
  /** Stores a notification under the next sequence number: unique and increasing, also across brokers. */
  notify(n: Omit<NotificationRecord, 'seq'>): Promise<NotificationRecord>;
  /** In sequence order; of one cluster when given, and only those after `afterSeq` when given. */
  notifications(clusterId?: string, afterSeq?: number): Promise<NotificationRecord[]>;
  accessGrants(): Promise<AccessGrant[]>;
  putAccessGrant(g: AccessGrant): Promise<void>;
  /** True when there was such a grant. */
  deleteAccessGrant(pattern: string): Promise<boolean>;
  /** Opaque sealed blobs (KMS ciphertext of cluster CA keys, the token signing key), by id. */
  getSealed(id: string): Promise<string | undefined>;
  putSealed(id: string, value: string): Promise<void>;
  deleteSealed(id: string): Promise<void>;
  putWatch(w: WatchState): Promise<void>;
  watches(): Promise<WatchState[]>;
  deleteWatch(clusterId: string): Promise<void>;
  /**
   * Takes or renews the lease when it is free, expired (by `nowMs`) or already `holder`'s, until nowMs + ttlMs.
   * Resolves to the lease as it stands afterwards: `holder` is the caller's only if it got it.
   */
  takeLease(name: string, holder: string, ttlMs: number, nowMs: number): Promise<Lease>;
  /** Gives the lease up if `holder` has it (a clean shutdown: the next broker leads at once). */
  releaseLease(name: string, holder: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Read, change and write one cluster record as one step: the write is conditional on the version read, and a lost
 * race reads again (bounded). `fn` returns undefined to write nothing. Resolves to the record as stored (or as read
 * when nothing was written; undefined when there is no such cluster).
 */
export async function updateCluster(store: Store, id: string, fn: (c: ClusterRecord) => ClusterRecord | undefined, attempts = 8): Promise<ClusterRecord | undefined> {
  for (let i = 1; ; i++) {
    const cur = await store.cluster(id);
    if (!cur) return undefined;
    const next = fn(cur);
    if (!next) return cur;
    try {
      return await store.putCluster(next, { ifVersion: cur.version ?? 0 });
    } catch (err) {
      if (!(err instanceof SkiffError && err.code === 'BRK_CONFLICT') || i >= attempts) throw err;
    }
  }
}

/** The same order for both stores: creation time, then id. */
export const byCreated = (a: ClusterRecord, b: ClusterRecord): number => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

/** The refusal of a write that lost a race (another writer changed the record after it was read). */
export function versionConflict(id: string, expected: number, found: number): SkiffError {
  return new SkiffError('BRK_CONFLICT', `cluster ${id} changed meanwhile (version ${found}, not ${expected}); read it again and retry`);
}

/** An enrolment is made once per machine: a second one (another broker's, a replayed request) is refused. */
export function alreadyEnrolled(e: Pick<EnrolmentRecord, 'clusterId' | 'machineId'>): SkiffError {
  return new SkiffError('BRK_ALREADY_ENROLLED', `machine ${e.machineId} of cluster ${e.clusterId} has already enrolled; an enrol token is good for one enrolment per machine`);
}

/** The journal store: every change fsync'd to one local file before the promise resolves. */
export function openStore(path: string): Store {
  const j: Journal = openJournal(path);
  let seq = Math.max(0, ...j.all<NotificationRecord>('notifications').map((n) => n.seq));
  // Each method runs to its end synchronously, so a check and the write after it cannot interleave with another call.
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to turn a throw into a rejection
  const run = async <T>(fn: () => T): Promise<T> => fn();
  return {
    clusters: () => run(() => j.all<ClusterRecord>('clusters').sort(byCreated)),
    cluster: (id) => run(() => j.get<ClusterRecord>('clusters', id)),
    findCluster: (ref) => run(() =>
      j.get<ClusterRecord>('clusters', ref) ??
      j
        .all<ClusterRecord>('clusters')
        .filter((c) => c.name === ref)
        .sort(byCreated)
        .at(-1)),
    putCluster: (c, opts = {}) => run(() => {
      const found = j.get<ClusterRecord>('clusters', c.id)?.version ?? 0;
      if (opts.ifVersion !== undefined && opts.ifVersion !== found) throw versionConflict(c.id, opts.ifVersion, found);
      const next: ClusterRecord = { ...c, version: found + 1 };
      j.put('clusters', c.id, next);
      return next;
    }),
    enrolment: (clusterId, machineId) => run(() => j.get<EnrolmentRecord>('enrolments', `${clusterId}/${machineId}`)),
    enrolments: (clusterId) => run(() => j.all<EnrolmentRecord>('enrolments').filter((e) => e.clusterId === clusterId)),
    putEnrolment: (e) => run(() => {
      const key = `${e.clusterId}/${e.machineId}`;
      if (j.get('enrolments', key) !== undefined) throw alreadyEnrolled(e);
      j.put('enrolments', key, e);
    }),
    putCertificate: (c) => run(() => j.put('certificates', `${c.clusterId}/${c.serialHex}`, c)),
    certificates: (clusterId) => run(() => j.all<CertificateRecord>('certificates').filter((c) => c.clusterId === clusterId)),
    notify: (n) => run(() => {
      const rec: NotificationRecord = { ...n, seq: ++seq };
      j.put('notifications', String(rec.seq).padStart(12, '0'), rec);
      return rec;
    }),
    notifications: (clusterId, afterSeq = 0) => run(() =>
      j
        .all<NotificationRecord>('notifications')
        .filter((n) => (clusterId === undefined || n.clusterId === clusterId) && n.seq > afterSeq)
        .sort((a, b) => a.seq - b.seq)),
    accessGrants: () => run(() => j.all<AccessGrant>('grants').sort((a, b) => a.pattern.localeCompare(b.pattern))),
    putAccessGrant: (g) => run(() => j.put('grants', g.pattern, g)),
    deleteAccessGrant: (pattern) => run(() => {
      if (j.get('grants', pattern) === undefined) return false;
      j.del('grants', pattern);
      return true;
    }),
    getSealed: (id) => run(() => j.get<string>('sealed', id)),
    putSealed: (id, value) => run(() => j.put('sealed', id, value)),
    deleteSealed: (id) => run(() => {
      if (j.get('sealed', id) !== undefined) j.del('sealed', id);
    }),
    putWatch: (w) => run(() => j.put('watch', w.clusterId, w)),
    watches: () => run(() => j.all<WatchState>('watch')),
    deleteWatch: (clusterId) => run(() => {
      if (j.get('watch', clusterId) !== undefined) j.del('watch', clusterId);
    }),
    takeLease: (name, holder, ttlMs, nowMs) => run(() => {
      const cur = j.get<Lease>('leases', name);
      if (cur && cur.holder !== holder && cur.expiresAtMs > nowMs) return cur;
      const next: Lease = { name, holder, expiresAtMs: nowMs + ttlMs };
      j.put('leases', name, next);
      return next;
    }),
    releaseLease: (name, holder) => run(() => {
      if (j.get<Lease>('leases', name)?.holder === holder) j.del('leases', name);
    }),
    close: () => run(() => j.close()),
  };
}

export function clusterView(c: ClusterRecord): ClusterView {
  const { workspace: _w, version: _ver, schedulerReady: _r, plan, watchdog: _d, webhookUrl: _h, versionsChecked: _v, software, workersChangedAt: _t, retire, interrupted: _i, removedMachines: _m, ...view } = c;
  const s = plan?.scheduler;
  const retiring = retire ? (retire.names?.length ?? retire.count ?? 0) : 0;
  return {
    ...view, ...(software ? { software: softwareView(software) } : {}), ...(s ? { scheduler: `tls://${s.publicHost}:${s.gatewayPort}` } : {}),
    ...(retiring > 0 ? { workersRetiring: retiring } : {}),
  };
}
