// The broker's records: clusters, enrolments (one per machine: the record that makes an enrol token
// single-use), issued certificates, and notifications (every state change). All durable (see journal.ts).

import type { ClusterState, ClusterView, Role, WatchdogSettings } from '../api/wire.js';
import type { ClusterPlan } from '../../provisioner/backend.js';
import { openJournal, type Journal } from './journal.js';
import { softwareView } from '../api/software.js';

/** What the API shows of a cluster, plus what only the broker keeps (the plan, settings, the webhook). */
export interface ClusterRecord extends Omit<ClusterView, 'scheduler'> {
  workspace: string;
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

/** Who may use an aws-iam broker (broker/auth/grants.ts): an exact ARN or a prefix ending in `*`. */
export interface AccessGrant {
  pattern: string;
  admin: boolean;
  grantedBy: string;
  grantedAt: string;
}

export const ACTIVE_STATES: readonly ClusterState[] = ['pending', 'starting', 'running', 'stopping'];

export interface Store {
  clusters(): ClusterRecord[];
  cluster(id: string): ClusterRecord | undefined;
  /** By id, or by name (the newest cluster of that name). */
  findCluster(ref: string): ClusterRecord | undefined;
  putCluster(c: ClusterRecord): void;
  enrolment(clusterId: string, machineId: string): EnrolmentRecord | undefined;
  enrolments(clusterId: string): EnrolmentRecord[];
  putEnrolment(e: EnrolmentRecord): void;
  putCertificate(c: CertificateRecord): void;
  certificates(clusterId: string): CertificateRecord[];
  notify(n: Omit<NotificationRecord, 'seq'>): NotificationRecord;
  notifications(clusterId?: string): NotificationRecord[];
  accessGrants(): Promise<AccessGrant[]>;
  putAccessGrant(g: AccessGrant): Promise<void>;
  /** False when there was no such grant. */
  deleteAccessGrant(pattern: string): Promise<boolean>;
  close(): void;
}

export function openStore(path: string): Store {
  const j: Journal = openJournal(path);
  let seq = Math.max(0, ...j.all<NotificationRecord>('notifications').map((n) => n.seq));
  const byCreated = (a: ClusterRecord, b: ClusterRecord) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
  return {
    clusters: () => j.all<ClusterRecord>('clusters').sort(byCreated),
    cluster: (id) => j.get<ClusterRecord>('clusters', id),
    findCluster: (ref) =>
      j.get<ClusterRecord>('clusters', ref) ??
      j
        .all<ClusterRecord>('clusters')
        .filter((c) => c.name === ref)
        .sort(byCreated)
        .at(-1),
    putCluster: (c) => j.put('clusters', c.id, c),
    enrolment: (clusterId, machineId) => j.get<EnrolmentRecord>('enrolments', `${clusterId}/${machineId}`),
    enrolments: (clusterId) => j.all<EnrolmentRecord>('enrolments').filter((e) => e.clusterId === clusterId),
    putEnrolment: (e) => j.put('enrolments', `${e.clusterId}/${e.machineId}`, e),
    putCertificate: (c) => j.put('certificates', `${c.clusterId}/${c.serialHex}`, c),
    certificates: (clusterId) => j.all<CertificateRecord>('certificates').filter((c) => c.clusterId === clusterId),
    notify: (n) => {
      const rec: NotificationRecord = { ...n, seq: ++seq };
      j.put('notifications', String(rec.seq).padStart(12, '0'), rec);
      return rec;
    },
    notifications: (clusterId) =>
      j
        .all<NotificationRecord>('notifications')
        .filter((n) => clusterId === undefined || n.clusterId === clusterId)
        .sort((a, b) => a.seq - b.seq),
    accessGrants: () => Promise.resolve(j.all<AccessGrant>('grants').sort((a, b) => a.pattern.localeCompare(b.pattern))),
    putAccessGrant: (g) => Promise.resolve(j.put('grants', g.pattern, g)),
    deleteAccessGrant: (pattern) => {
      if (j.get<AccessGrant>('grants', pattern) === undefined) return Promise.resolve(false);
      j.del('grants', pattern);
      return Promise.resolve(true);
    },
    close: () => j.close(),
  };
}

export function clusterView(c: ClusterRecord): ClusterView {
  const { workspace: _w, schedulerReady: _r, plan, watchdog: _d, webhookUrl: _h, versionsChecked: _v, software, workersChangedAt: _t, retire, interrupted: _i, removedMachines: _m, ...view } = c;
  const s = plan?.scheduler;
  const retiring = retire ? (retire.names?.length ?? retire.count ?? 0) : 0;
  return {
    ...view, ...(software ? { software: softwareView(software) } : {}), ...(s ? { scheduler: `tls://${s.publicHost}:${s.gatewayPort}` } : {}),
    ...(retiring > 0 ? { workersRetiring: retiring } : {}),
  };
}
