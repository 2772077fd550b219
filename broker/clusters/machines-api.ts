// What the machines say to the broker: enrolment (a CSR and the single-use enrol token, answered with a node
// certificate and an agent token), a failed boot (the enrol token and the machine's proof of identity again,
// before its agent enrolled), and the agents' events (readiness, workers connected, a Dask that gave up).

import { isSkiffError, SkiffError } from '../api/errors.js';
import type { AgentEvent, BootReport, EnrolRequest, EnrolResponse } from '../api/wire.js';
import { reportLines } from '../api/machine-report.js';
import { signCsr } from '../pki/sign.js';
import { resolveWatchdogConfig } from '../watchdog/config.js';
import { logGroupFor } from '../api/logs.js';
import { maskUrl, type MachineSoftware, type SoftwareSpec } from '../api/software.js';
import type { ClusterRecord, Store } from '../store/store.js';
import type { DataAccessState } from '../api/data-access.js';
import type { ClusterPlan, MachineEvidence } from '../../provisioner/backend.js';
import type { VerifiedToken } from '../api/tokens.js';
import { bounded } from './bounded.js';
import type { CaStore } from './ca-store.js';
import { LAST_LINES, type Lifecycle } from './lifecycle.js';
import type { ClusterService, ClusterServiceOptions } from './types.js';

const STEP_RE = /^[A-Za-z0-9 _.:-]{1,60}$/;
const IP_RE = /^[0-9.]+$|:/;

type MachinesApi = Pick<ClusterService, 'enrol' | 'bootFailed' | 'agentEvent'>;

/** Agent events about the worker count, handled by the scaling part (scaling.ts). */
export type ScaleEventHandler = (c: ClusterRecord, claims: VerifiedToken, e: Extract<AgentEvent, { kind: 'retired' | 'adapt' | 'interrupted' }>) => Promise<void>;

export function createMachinesApi(o: ClusterServiceOptions & { now: () => Date; store: Store }, life: Lifecycle, cas: CaStore, onScaleEvent?: ScaleEventHandler): MachinesApi {
  const nowIso = () => o.now().toISOString();
  const attest = (c: ClusterRecord, plan: ClusterPlan, machineId: string, evidence: MachineEvidence) =>
    bounded(`checking machine ${machineId}`, life.timeouts.queryMs, life.backendFor(c.backend).attest(plan, machineId, evidence));

  return {
    async enrol(raw): Promise<EnrolResponse> {
      const r = (raw ?? {}) as Partial<EnrolRequest>;
      if (typeof r.token !== 'string' || typeof r.clusterId !== 'string' || typeof r.machineId !== 'string' || typeof r.csrPem !== 'string') {
        throw new SkiffError('BRK_BAD_REQUEST', 'enrolment needs token, clusterId, machineId and csrPem');
      }
      const claims = await o.tokens.verify('enrol', r.token);
      if (claims.cluster !== r.clusterId) {
        throw new SkiffError('BRK_FORBIDDEN', `enrol token is for cluster ${String(claims.cluster)}, not ${r.clusterId}`);
      }
      const role = claims.role;
      const c = claims.cluster !== undefined ? await o.store.cluster(claims.cluster) : undefined;
      if (!c || !c.plan || role === undefined) throw new SkiffError('BRK_FORBIDDEN', 'enrol token does not name a known cluster');
      if (!['pending', 'starting', 'running'].includes(c.state)) throw new SkiffError('BRK_FORBIDDEN', `cluster ${c.id} is ${c.state}; it takes no new machines`);
      // The machine proves it is the one it names (on AWS its signed instance identity document): a copied enrol
      // token alone does not make a node. A rogue's try does not count as the machine's one enrolment.
      const evidence: MachineEvidence = { launchedAfter: new Date(c.createdAt), ...(r.identity !== undefined ? { identity: r.identity } : {}) };
      let machine;
      try {
        machine = await attest(c, c.plan, r.machineId, evidence);
      } catch (err) {
        if (isSkiffError(err, 'PRV_NOT_ATTESTED')) o.log.warn({ clusterId: c.id, machineId: r.machineId, role, reason: err.message }, 'enrolment refused: machine not proven');
        throw err;
      }
      if (!machine || machine.role !== role) {
        throw new SkiffError('BRK_FORBIDDEN', `machine ${r.machineId} is not a ${role} of cluster ${c.id}`);
      }
      if (c.plan.scheduler.privateHost === '') {
        throw new SkiffError('BRK_NOT_READY', `cluster ${c.id} is still being launched; retry in a few seconds`, { retryable: true });
      }
      if (await o.store.enrolment(c.id, r.machineId)) {
        throw new SkiffError('BRK_ALREADY_ENROLLED', `machine ${r.machineId} of cluster ${c.id} has already enrolled; an enrol token is good for one enrolment per machine`);
      }
      const name = uniqueName(machine.name, r.machineId, await o.store.enrolments(c.id));
      const hosts = [machine.privateHost, machine.publicHost].filter((h): h is string => !!h);
      const ips = [...new Set(hosts.filter((h) => IP_RE.test(h)))];
      const dns = [...new Set(['localhost', ...hosts.filter((h) => !IP_RE.test(h))])];
      const signer = cas.signer(c.id);
      const cert = signCsr(signer, {
        csrPem: r.csrPem, profile: 'node', commonName: `${name}.${c.id}`, holder: { cluster: c.id, role }, sans: { ips, dns },
        validityMs: o.nodeCertValidityMs ?? 7 * 24 * 3600_000, now: o.now,
      });
      const at = nowIso();
      await o.store.putEnrolment({ clusterId: c.id, machineId: r.machineId, role, name, serialHex: cert.serialHex, enrolledAt: at });
      const latest = (await o.store.cluster(c.id)) ?? c;
      const machinesEnrolled = (await o.store.enrolments(c.id)).length;
      await o.store.putCluster({ ...latest, machinesEnrolled, ...(role === 'scheduler' ? { schedulerEnrolled: true } : {}), updatedAt: at });
      await o.store.putCertificate({ clusterId: c.id, serialHex: cert.serialHex, profile: 'node', subject: name, notAfter: cert.notAfter.toISOString(), issuedAt: at });
      o.log.info({ clusterId: c.id, machineId: r.machineId, role }, 'machine enrolled');
      const { idleTimeoutMs, heartbeatTimeoutMs } = resolveWatchdogConfig({ ...o.workspaceWatchdog, ...c.watchdog });
      const nthreads = role === 'worker' ? (c.workerThreads ?? machine.vcpus) : undefined;
      return {
        clusterId: c.id, machineId: r.machineId, role, machineName: name, certPem: cert.certPem, caPem: signer.certPem,
        agentToken: await o.tokens.mint('agent', { sub: r.machineId, cluster: c.id, role }, o.agentTokenTtlS ?? 7 * 24 * 3600),
        tokenKey: o.tokens.publicJwk,
        scheduler: c.plan.scheduler,
        failSafe: { idleTimeoutMs, heartbeatTimeoutMs },
        logs: c.logs ?? { sink: 'local', dir: o.logsDir, group: logGroupFor(c.workspace) },
        ...(nthreads !== undefined ? { nthreads } : {}),
        ...(c.software ? { software: machineSoftware(c.software) } : {}),
        ...(c.env ? { env: c.env } : {}), ...(c.dataAccess ? { dataAccess: c.dataAccess } : {}),
      };
    },

    async bootFailed(token, report) {
      const claims = await o.tokens.verify('enrol', token);
      const c = claims.cluster !== undefined ? await o.store.cluster(claims.cluster) : undefined;
      if (!c?.plan || claims.role === undefined) throw new SkiffError('BRK_FORBIDDEN', 'enrol token does not name a known cluster');
      if (!['pending', 'starting', 'running'].includes(c.state)) return; // already over: nothing to fail
      // The token is shared by every machine of its role and readable from the launch template and IMDS: it says
      // which cluster, not which machine. The report must come from a machine skiff launched for this cluster,
      // proven as at enrolment (on AWS its signed instance identity document), that has not enrolled yet.
      if (report.machineId === '') throw new SkiffError('BRK_FORBIDDEN', 'a boot failure report must name the machine and carry its identity document');
      const evidence: MachineEvidence = { launchedAfter: new Date(c.createdAt), ...(report.identity !== undefined ? { identity: report.identity } : {}) };
      let machine;
      try {
        machine = await attest(c, c.plan, report.machineId, evidence);
      } catch (err) {
        if (isSkiffError(err, 'PRV_NOT_ATTESTED')) o.log.warn({ clusterId: c.id, machineId: report.machineId, reason: err.message }, 'boot failure report refused: machine not proven');
        throw err;
      }
      if (!machine || machine.role !== claims.role) throw new SkiffError('BRK_FORBIDDEN', `machine ${report.machineId} is not a ${claims.role} of cluster ${c.id}`);
      if (await o.store.enrolment(c.id, report.machineId)) {
        throw new SkiffError('BRK_FORBIDDEN', `machine ${report.machineId} has enrolled: it reports through its agent, not as a failed boot`);
      }
      const step = STEP_RE.test(report.step) ? report.step : 'unknown';
      const who = `${machine.name} (${report.machineId})`;
      const bootReport: BootReport = { machine: machine.name, machineId: report.machineId, step, at: nowIso(), lines: reportLines(report.text) };
      o.log.warn({ clusterId: c.id, machineId: report.machineId, step, state: c.state }, 'machine failed to boot');
      const latest = (await o.store.cluster(c.id)) ?? c;
      if (latest.state === 'running') {
        // A machine that never joined speaks for itself only: one alert about it, and the cluster goes on (the
        // reconciler replaces it once its instance is gone).
        const alert = `${who} failed to boot at step "${step}" and did not join; \`skiff status ${c.name}\` shows its report`;
        const first = !(latest.warnings ?? []).some((w) => w.startsWith(`${who} failed to boot`));
        await o.store.putCluster({ ...latest, bootReport, ...(first ? { warnings: [...(latest.warnings ?? []), alert] } : {}), updatedAt: nowIso() });
        if (first) {
          const n = await o.store.notify({ at: nowIso(), clusterId: c.id, kind: 'alert', reason: alert });
          o.onNotification?.(n, latest);
        }
        return;
      }
      if (latest.state !== 'pending' && latest.state !== 'starting') return;
      await o.store.putCluster({ ...latest, bootReport, updatedAt: nowIso() });
      // The reason is the broker's own words; the machine's are in bootReport, shown quoted.
      await life.fail(c.id, `${who} failed to boot at step "${step}"`);
    },

    async agentEvent(token, raw) {
      const claims = await o.tokens.verify('agent', token);
      const c = claims.cluster !== undefined ? await o.store.cluster(claims.cluster) : undefined;
      if (!c) throw new SkiffError('BRK_FORBIDDEN', 'agent token does not name a known cluster');
      // An agent token speaks for the one machine it was minted for, in the role that machine enrolled with.
      const self = claims.sub !== undefined ? await o.store.enrolment(c.id, claims.sub) : undefined;
      if (!self || self.role !== claims.role) throw new SkiffError('BRK_FORBIDDEN', `agent token does not name an enrolled machine of cluster ${c.id}`);
      const e = (raw ?? {}) as AgentEvent;
      switch (e.kind) {
        case 'ready':
          if (claims.role !== 'scheduler') throw new SkiffError('BRK_FORBIDDEN', 'only the scheduler reports readiness');
          await o.store.putCluster({ ...c, schedulerReady: true, updatedAt: nowIso() });
          break;
        case 'workers': {
          if (claims.role !== 'scheduler' || typeof e.count !== 'number') throw new SkiffError('BRK_BAD_REQUEST', 'bad workers event');
          await o.store.putCluster({ ...c, workersReady: e.count, updatedAt: nowIso() });
          break;
        }
        case 'failed': {
          const reason = stripControl(String(e.reason)).slice(0, 500);
          // Only the scheduler ends a running cluster. A worker that fails while the cluster starts ends it too
          // (running waits for every launched worker, so the start could only miss its deadline); once it runs,
          // a worker speaks only for itself: one alert per machine, and the cluster goes on without it.
          if (self.role !== 'scheduler' && c.state === 'running') {
            const alert = `${self.name} reported a failure and left the cluster: ${reason}`.slice(0, 600);
            if (!(c.warnings ?? []).some((w) => w.startsWith(`${self.name} reported a failure`))) {
              await o.store.putCluster({ ...c, warnings: [...(c.warnings ?? []), alert], updatedAt: nowIso() });
              const n = await o.store.notify({ at: nowIso(), clusterId: c.id, kind: 'alert', reason: alert });
              o.onNotification?.(n, c);
            }
            o.log.warn({ clusterId: c.id, machine: self.name }, 'a worker reported a failure; the cluster keeps running');
            throw new SkiffError('BRK_FORBIDDEN', `${self.name} is a worker: its agent token cannot fail running cluster ${c.id}; its failure is recorded as an alert`);
          }
          const lines = Array.isArray(e.lastLogLines) ? e.lastLogLines.slice(-LAST_LINES).map((l) => stripControl(String(l)).slice(0, 1000)) : undefined;
          await life.fail(c.id, reason, lines);
          return;
        }
        case 'log':
          return;
        case 'software': {
          // Each machine's latest step, by its name (the agent token names the machine).
          const name = self.name;
          if (!c.software || typeof e.detail !== 'string') throw new SkiffError('BRK_BAD_REQUEST', 'bad software event');
          const detail = stripControl(maskUrl(e.detail)).slice(0, 300);
          await o.store.putCluster({ ...c, software: { ...c.software, machines: { ...c.software.machines, [name]: detail } }, updatedAt: nowIso() });
          o.log.info({ clusterId: c.id, machine: name, detail }, 'software environment');
          return;
        }
        case 'versions': {
          if (claims.role !== 'scheduler' || typeof e.workers !== 'number' || !Array.isArray(e.mismatches)) throw new SkiffError('BRK_BAD_REQUEST', 'bad versions event');
          const found = [
            ...e.mismatches.map((m) => `version mismatch: ${stripControl(String(m)).slice(0, 500)}`),
            ...(typeof e.error === 'string' ? [`versions could not be compared with the client's: ${stripControl(e.error).slice(0, 500)}`] : []),
          ];
          const known = new Set(c.warnings ?? []);
          const fresh = found.filter((w) => !known.has(w));
          await o.store.putCluster({ ...c, versionsChecked: Math.max(c.versionsChecked ?? -1, e.workers), ...(fresh.length > 0 ? { warnings: [...known, ...fresh] } : {}), updatedAt: nowIso() });
          for (const reason of fresh) {
            const n = await o.store.notify({ at: nowIso(), clusterId: c.id, kind: 'alert', reason });
            o.log.warn({ clusterId: c.id, reason }, 'cluster alert');
            o.onNotification?.(n, c);
          }
          break;
        }
        case 'data-access': {
          if (claims.role !== 'scheduler') throw new SkiffError('BRK_FORBIDDEN', 'only the scheduler\'s agent reports data access');
          const st = checkDataAccessState(e.state, c.dataAccess?.secretEnv ?? []);
          await o.store.putCluster({ ...c, dataAccessState: st, updatedAt: nowIso() });
          o.log.info({ clusterId: c.id, identity: st.identity, expiresAt: st.expiresAt, secretEnv: st.secretEnv }, 'the client\'s data access reached the cluster');
          return;
        }
        case 'retired':
        case 'adapt':
        case 'interrupted':
          if (!onScaleEvent) throw new SkiffError('BRK_BAD_REQUEST', 'this broker does not scale clusters');
          await onScaleEvent(c, claims, e);
          return;
        default:
          throw new SkiffError('BRK_BAD_REQUEST', 'unknown agent event');
      }
      await life.maybeRunning(c.id);
    },
  };
}

/**
 * The name a machine enrols (and Dask knows it) as. A cloud numbers workers by launch order among the live ones,
 * so after a worker left a new one may be given a name an enrolled worker still has: it gets the next free one.
 */
function uniqueName(name: string, machineId: string, enrolled: ReadonlyArray<{ machineId: string; name: string }>): string {
  if (!enrolled.some((e) => e.name === name && e.machineId !== machineId)) return name;
  const m = /^(.*-)(\d+)$/.exec(name);
  if (!m) return `${name}-${machineId}`;
  const prefix = m[1] ?? '';
  const highest = Math.max(0, ...enrolled.map((e) => (e.name.startsWith(prefix) ? Number(e.name.slice(prefix.length)) : 0)).filter(Number.isFinite));
  return `${prefix}${highest + 1}`;
}

function machineSoftware(s: SoftwareSpec): MachineSoftware {
  return {
    mode: s.mode, hash: s.hash, packages: s.packages,
    ...(s.python !== undefined ? { python: s.python } : {}), ...(s.client ? { client: s.client } : {}),
    ...(s.indexUrl !== undefined ? { indexUrl: s.indexUrl } : {}), ...(s.extraIndexUrls ? { extraIndexUrls: s.extraIndexUrls } : {}),
  };
}

/** The scheduler's report of what it received: names the cluster knows, an ARN and a time; nothing else is kept. */
function checkDataAccessState(raw: unknown, secretEnv: readonly string[]): DataAccessState {
  const r = (raw ?? {}) as Record<string, unknown>;
  const time = (v: unknown): string | undefined => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : undefined);
  const receivedAt = time(r['receivedAt']);
  const names = Array.isArray(r['secretEnv']) ? r['secretEnv'].filter((n): n is string => typeof n === 'string' && secretEnv.includes(n)) : [];
  if (receivedAt === undefined) throw new SkiffError('BRK_BAD_REQUEST', 'bad data-access event');
  const identity = typeof r['identity'] === 'string' && /^arn:[\x21-\x7e]{1,2040}$/.test(r['identity']) ? r['identity'] : undefined;
  const expiresAt = time(r['expiresAt']);
  return { receivedAt, secretEnv: names, ...(identity !== undefined ? { identity } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** A boot log line without terminal escapes and other control characters (they come from any program's output). */
function stripControl(line: string): string {
  let out = '';
  for (const ch of line) {
    const code = ch.charCodeAt(0);
    if (code >= 0x20 && code !== 0x7f) out += ch;
  }
  return out;
}
