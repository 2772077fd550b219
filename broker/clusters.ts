// A cluster's life on the broker: create (validate everything, plan, then create), enrol its machines,
// follow what their agents report, and stop it. The only place that holds the cluster CAs' keys.
//
//   create ──► pending ──apply──► starting ──scheduler ready + N workers──► running
//                 │                  │                                        │
//                 └──── failed ◄─────┴──── (apply error, agent gave up) ──────┤
//                                                                   down ──► stopping ──► stopped

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SkiffError } from './api/errors.js';
import type {
  AgentEvent, BackendName, ClusterState, ClusterView, CredentialsResponse, DashboardTokenResponse,
  EnrolRequest, EnrolResponse, LogTarget, NotificationView, WatchdogSettings,
} from './api/wire.js';
import type { Backend, ClusterPlan, ClusterSpec } from '../provisioner/backend.js';
import { createCa, loadCaSigner, type CaSigner } from './pki/ca.js';
import { signCsr } from './pki/sign.js';
import type { TokenIssuer } from './tokens/types.js';
import { ACTIVE_STATES, clusterView, type ClusterRecord, type NotificationRecord, type Store } from './store/store.js';
import { resolveWatchdogConfig } from './watchdog/config.js';
import { DEFAULT_START_TIMEOUT_MS, isLoopbackUrl, parseCreateRequest } from './cluster-request.js';
import { logGroupFor } from '../agent/logs/naming.js';
import { createStartDeadlines } from './clusters/start-deadline.js';
import { formatDuration } from './watchdog/duration.js';

export interface ClusterServiceOptions {
  store: Store;
  tokens: TokenIssuer;
  backends: Partial<Record<BackendName, Backend>>;
  caDir: string;
  /** URL the machines use to reach this broker. */
  brokerUrl: string;
  /** The CA certificate the broker's HTTPS certificate chains to (public), pinned on the machines. */
  brokerCaPem?: string;
  /** True when the aws backend talks to an emulator (AWS_ENDPOINT_URL set): then a loopback broker URL is fine. */
  awsEmulated?: boolean;
  log: Logger;
  now?: () => Date;
  /** Lifetimes, in seconds. */
  enrolTokenTtlS?: number;
  /** Default 7 days, as the node certificates: a cluster outliving both needs renewal, which is not built yet. */
  agentTokenTtlS?: number;
  dashboardTokenTtlS?: number;
  nodeCertValidityMs?: number;
  userCertValidityMs?: number;
  /** Follows running clusters (telemetry) and decides stops and alerts. */
  watchdog?: { track(clusterId: string, config?: WatchdogSettings): void; untrack(clusterId: string): void };
  /** The local log store (for clusters whose logs stay on this machine). */
  logsDir: string;
  /** Region for CloudWatch when the backend has none of its own (local clusters shipping to CloudWatch). */
  defaultRegion?: string;
  /** The workspace's watchdog thresholds ($SKIFF_HOME/config.json); a cluster's own settings win. */
  workspaceWatchdog?: WatchdogSettings;
  /** Every notification as it is stored (the broker sends them on to webhooks). */
  onNotification?: (n: NotificationRecord, c: ClusterRecord) => void;
}

export interface ClusterService {
  create(req: unknown): Promise<ClusterView>;
  list(): ClusterView[];
  get(ref: string): ClusterView;
  /** Stop every machine; the cluster ends `stopped`, or `failed` when `failed` is set (e.g. never became ready). */
  down(ref: string, opts?: { reason?: string; failed?: boolean }): Promise<ClusterView>;
  enrol(req: unknown): Promise<EnrolResponse>;
  /** A machine's boot script failed (authenticated by the machine's enrol token): the cluster fails with the step and lines. */
  bootFailed(token: string, report: { machineId: string; step: string; text: string }): Promise<void>;
  /** Stop the start-deadline timers (the broker is closing). */
  close(): void;
  agentEvent(token: string, event: unknown): Promise<void>;
  userCredentials(ref: string, body: unknown): Promise<CredentialsResponse>;
  dashboardToken(ref: string): Promise<DashboardTokenResponse>;
  /** After a broker restart: finish what a previous run left half-done. */
  recover(): Promise<void>;
  /** A watchdog alert (the cluster keeps running). */
  alert(clusterId: string, reason: string): void;
  notifications(ref?: string, afterSeq?: number): NotificationView[];
}

const LAST_LINES = 20;
const STEP_RE = /^[A-Za-z0-9 _.:-]{1,60}$/;

export function createClusterService(o: ClusterServiceOptions): ClusterService {
  const now = o.now ?? (() => new Date());
  const signers = new Map<string, CaSigner>();
  const log = o.log;

  const nowIso = () => now().toISOString();
  const watchdogOf = (c: ClusterRecord): WatchdogSettings => ({ ...o.workspaceWatchdog, ...c.watchdog });
  const find = (ref: string): ClusterRecord => {
    const c = o.store.findCluster(ref);
    if (!c) throw new SkiffError('BRK_NOT_FOUND', `no cluster named or with id "${ref}"; \`skiff list\` shows them`);
    return c;
  };
  const backendFor = (name: BackendName): Backend => {
    const b = o.backends[name];
    if (!b) throw new SkiffError('PRV_UNKNOWN_BACKEND', `backend "${name}" is not configured on this broker; available: ${Object.keys(o.backends).join(', ')}`);
    return b;
  };
  // A cluster that leaves pending/starting no longer has a start deadline, and an apply still running for
  // it is told to stop (its signal), so nothing is launched for a cluster that is already over.
  const launches = new Map<string, AbortController>();
  const setState = (c: ClusterRecord, state: ClusterState, reason?: string): ClusterRecord => {
    const next: ClusterRecord = { ...c, state, updatedAt: nowIso() };
    if (reason !== undefined) next.reason = reason;
    o.store.putCluster(next);
    if (state !== 'pending' && state !== 'starting') {
      deadlines.disarm(c.id);
      if (state !== 'running') launches.get(c.id)?.abort(new SkiffError('PRV_LAUNCH_FAILED', `cluster ${c.id} is ${state}`));
    }
    if (state !== c.state) {
      const n = o.store.notify({ at: next.updatedAt, clusterId: c.id, kind: 'state', state, ...(reason !== undefined ? { reason } : {}) });
      log.info({ clusterId: c.id, from: c.state, to: state, reason }, 'cluster state changed');
      if (state === 'running') o.watchdog?.track(c.id, watchdogOf(c));
      else if (state !== 'pending' && state !== 'starting') o.watchdog?.untrack(c.id);
      o.onNotification?.(n, next);
    }
    return next;
  };
  const signer = (clusterId: string): CaSigner => {
    let s = signers.get(clusterId);
    if (!s) {
      const certPem = readFileSync(join(o.caDir, `${clusterId}.pem`), 'utf8');
      const keyPem = readFileSync(join(o.caDir, `${clusterId}.key`), 'utf8');
      s = loadCaSigner({ certPem, keyPem });
      signers.set(clusterId, s);
    }
    return s;
  };
  const specFor = async (c: ClusterRecord, options?: Record<string, unknown>): Promise<ClusterSpec> => ({
    clusterId: c.id,
    name: c.name,
    workers: c.workers,
    brokerUrl: o.brokerUrl,
    ...(o.brokerCaPem ? { brokerCaPem: o.brokerCaPem } : {}),
    ...(options ? { options } : {}),
    enrolTokens: {
      scheduler: await o.tokens.mint('enrol', { sub: `${c.id}/scheduler`, cluster: c.id, role: 'scheduler' }, o.enrolTokenTtlS ?? 1800),
      worker: await o.tokens.mint('enrol', { sub: `${c.id}/worker`, cluster: c.id, role: 'worker' }, o.enrolTokenTtlS ?? 1800),
    },
  });

  const fail = async (clusterId: string, reason: string, lastLogLines?: string[]): Promise<void> => {
    let c = o.store.cluster(clusterId);
    if (!c || c.state === 'stopped' || c.state === 'failed') return;
    const b = o.backends[c.backend];
    let lines = lastLogLines;
    // The Dask process may have printed nothing (a missing interpreter): then the agents' own logs say why.
    if (b && c.plan && (!lines || lines.length === 0)) lines = await b.lastLogLines(c.plan, LAST_LINES).catch(() => []);
    c = { ...c, ...(lines ? { lastLogLines: lines.slice(-LAST_LINES) } : {}) };
    c = setState(c, 'failed', reason);
    if (b && c.plan) await b.destroy(c.plan).catch((err: unknown) => log.error({ clusterId, err: (err as Error).message }, 'cleanup after failure failed'));
  };

  /** starting → running once the scheduler is up and every launched worker has joined it. */
  const maybeRunning = (id: string): void => {
    const cur = o.store.cluster(id);
    if (cur && cur.state === 'starting' && cur.schedulerReady && cur.workersReady >= (cur.workersLaunched ?? cur.workers)) setState(cur, 'running');
  };

  /** The start deadline has come: a cluster not running by now fails, saying what was missing. */
  const expire = async (id: string): Promise<void> => {
    const c = o.store.cluster(id);
    if (!c || (c.state !== 'pending' && c.state !== 'starting')) return;
    const enrolled = o.store.enrolments(id);
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
    now: () => now().getTime(),
    onExpire: (id) => {
      expire(id).catch((err: unknown) => log.error({ clusterId: id, err }, 'failing a cluster at its start deadline failed'));
    },
  });

  // pending while the backend creates resources; starting once every machine is requested.
  const launch = async (c: ClusterRecord, spec: ClusterSpec): Promise<void> => {
    const b = backendFor(c.backend);
    const abort = new AbortController();
    launches.set(c.id, abort);
    try {
      if (!c.plan) throw new SkiffError('PRV_LAUNCH_FAILED', 'cluster has no plan');
      const machines = await b.apply(spec, c.plan, { progress: (m) => log.info({ clusterId: c.id }, m), signal: abort.signal });
      const cur = o.store.cluster(c.id);
      if (!cur?.plan || cur.state !== 'pending') {
        // Stopped or failed while the apply ran: what it launched after that stop must not outlive it.
        await b.destroy(c.plan).catch((err: unknown) => log.error({ clusterId: c.id, err }, 'removing machines launched after a stop failed; run skiff gc'));
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
      setState({ ...cur, plan: { ...cur.plan, scheduler }, workersLaunched: launched }, 'starting', short);
      maybeRunning(c.id);
    } catch (err) {
      const cur = o.store.cluster(c.id);
      if (cur && cur.state !== 'pending' && c.plan) {
        await b.destroy(c.plan).catch((e: unknown) => log.error({ clusterId: c.id, err: e }, 'removing machines launched after a stop failed; run skiff gc'));
        return;
      }
      log.error({ clusterId: c.id, err }, 'launch failed');
      await fail(c.id, `launch failed: ${(err as Error).message}`);
    } finally {
      launches.delete(c.id);
    }
  };

  return {
    async create(raw) {
      const req = parseCreateRequest(raw);
      const b = backendFor(req.backend);
      if (req.backend === 'aws' && isLoopbackUrl(o.brokerUrl) && !o.awsEmulated) {
        throw new SkiffError(
          'BRK_BAD_REQUEST',
          `EC2 instances cannot reach this broker at ${o.brokerUrl} (a loopback address). Run \`skiff broker --host 0.0.0.0 --public-url https://HOST:PORT\` on a server the instances can reach, then pass --broker-url https://HOST:PORT to skiff`,
        );
      }
      if (req.backend === 'aws' && !o.brokerUrl.startsWith('https://') && !o.awsEmulated) {
        throw new SkiffError(
          'BRK_BAD_REQUEST',
          `EC2 instances would reach this broker at ${o.brokerUrl} over the internet without TLS. Run \`skiff broker --tls-cert FILE --tls-key FILE\` (a private CA works: its certificate is pinned on the machines, see --tls-ca) and give its https:// URL`,
        );
      }
      const id = `c${randomBytes(5).toString('hex')}`;
      const name = req.name ?? `cluster-${id.slice(1, 7)}`;
      const clash = o.store.clusters().find((c) => c.name === name && ACTIVE_STATES.includes(c.state));
      if (clash) throw new SkiffError('BRK_CONFLICT', `a cluster named "${name}" is already ${clash.state}; pick another name or \`skiff down ${name}\` first`);
      const at = nowIso();
      const startTimeoutMs = req.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS[req.backend];
      let c: ClusterRecord = {
        id, name, workspace: 'default', backend: req.backend, state: 'pending', workers: req.workers, workersReady: 0, schedulerReady: false,
        createdAt: at, updatedAt: at, startDeadline: new Date(Date.parse(at) + startTimeoutMs).toISOString(),
        ...(req.workerThreads !== undefined ? { workerThreads: req.workerThreads } : {}),
        ...(req.watchdog ? { watchdog: req.watchdog } : {}), ...(req.webhookUrl ? { webhookUrl: req.webhookUrl } : {}),
      };
      const spec = await specFor(c, req.options);
      // Everything is validated (the backend's plan included) before the first resource exists.
      const plan: ClusterPlan = await b.plan(spec);
      const region = typeof (plan.detail['aws'] as { region?: unknown } | undefined)?.region === 'string'
        ? (plan.detail['aws'] as { region: string }).region
        : (o.defaultRegion ?? 'us-east-1');
      const logs: LogTarget = req.backend === 'aws' || req.logs === 'cloudwatch'
        ? { sink: 'cloudwatch', region, group: logGroupFor(c.workspace), retentionDays: 30 }
        : { sink: 'local', dir: o.logsDir, group: logGroupFor(c.workspace) };
      mkdirSync(o.caDir, { recursive: true, mode: 0o700 });
      const ca = await createCa({ clusterId: id, validityMs: 30 * 24 * 3600_000, now });
      writeFileSync(join(o.caDir, `${id}.key`), ca.keyPem, { mode: 0o600 });
      writeFileSync(join(o.caDir, `${id}.pem`), ca.certPem, { mode: 0o644 });
      c = { ...c, plan, logs };
      o.store.putCluster(c);
      const created = o.store.notify({ at, clusterId: id, kind: 'state', state: 'pending' });
      o.onNotification?.(created, c);
      log.info({ clusterId: id, name, workers: req.workers, backend: req.backend, startDeadline: c.startDeadline }, 'cluster created');
      deadlines.arm(id, Date.parse(c.startDeadline ?? at));
      void launch(c, spec);
      return clusterView(c);
    },

    list: () => o.store.clusters().map(clusterView),
    get: (ref) => clusterView(find(ref)),

    async down(ref, opts = {}) {
      let c = find(ref);
      if (opts.failed) {
        await fail(c.id, opts.reason ?? 'failed');
        return clusterView(find(c.id));
      }
      const reason = opts.reason ?? 'stopped by user';
      if (c.state === 'stopped') return clusterView(c);
      const wasFailed = c.state === 'failed';
      if (!wasFailed) c = setState(c, 'stopping', reason);
      const b = o.backends[c.backend];
      if (b && c.plan) await b.destroy(c.plan);
      if (wasFailed) return clusterView(c);
      c = setState(o.store.cluster(c.id) ?? c, 'stopped', reason);
      return clusterView(c);
    },

    async enrol(raw) {
      const r = (raw ?? {}) as Partial<EnrolRequest>;
      if (typeof r.token !== 'string' || typeof r.clusterId !== 'string' || typeof r.machineId !== 'string' || typeof r.csrPem !== 'string') {
        throw new SkiffError('BRK_BAD_REQUEST', 'enrolment needs token, clusterId, machineId and csrPem');
      }
      const claims = await o.tokens.verify('enrol', r.token);
      if (claims.cluster !== r.clusterId) {
        throw new SkiffError('BRK_FORBIDDEN', `enrol token is for cluster ${String(claims.cluster)}, not ${r.clusterId}`);
      }
      const clusterId = claims.cluster;
      const role = claims.role;
      const c = clusterId !== undefined ? o.store.cluster(clusterId) : undefined;
      if (!c || !c.plan || role === undefined) throw new SkiffError('BRK_FORBIDDEN', 'enrol token does not name a known cluster');
      if (!['pending', 'starting', 'running'].includes(c.state)) throw new SkiffError('BRK_FORBIDDEN', `cluster ${c.id} is ${c.state}; it takes no new machines`);
      const machine = await backendFor(c.backend).attest(c.plan, r.machineId);
      if (!machine || machine.role !== role) {
        throw new SkiffError('BRK_FORBIDDEN', `machine ${r.machineId} is not a ${role} of cluster ${c.id}`);
      }
      if (c.plan.scheduler.privateHost === '') {
        throw new SkiffError('BRK_NOT_READY', `cluster ${c.id} is still being launched; retry in a few seconds`, { retryable: true });
      }
      if (o.store.enrolment(c.id, r.machineId)) {
        throw new SkiffError('BRK_ALREADY_ENROLLED', `machine ${r.machineId} of cluster ${c.id} has already enrolled; an enrol token is good for one enrolment per machine`);
      }
      const ips = [...new Set([machine.privateHost, machine.publicHost].filter((h): h is string => !!h && /^[0-9.]+$|:/.test(h)))];
      const dns = [...new Set(['localhost', ...[machine.privateHost, machine.publicHost].filter((h): h is string => !!h && !/^[0-9.]+$|:/.test(h))])];
      const cert = signCsr(signer(c.id), {
        csrPem: r.csrPem, profile: 'node', commonName: `${machine.name}.${c.id}`, sans: { ips, dns },
        validityMs: o.nodeCertValidityMs ?? 7 * 24 * 3600_000, now,
      });
      const at = nowIso();
      o.store.putEnrolment({ clusterId: c.id, machineId: r.machineId, role, name: machine.name, serialHex: cert.serialHex, enrolledAt: at });
      const latest = o.store.cluster(c.id) ?? c;
      o.store.putCluster({ ...latest, machinesEnrolled: o.store.enrolments(c.id).length, updatedAt: at });
      o.store.putCertificate({ clusterId: c.id, serialHex: cert.serialHex, profile: 'node', subject: machine.name, notAfter: cert.notAfter.toISOString(), issuedAt: at });
      log.info({ clusterId: c.id, machineId: r.machineId, role }, 'machine enrolled');
      return {
        clusterId: c.id, machineId: r.machineId, role, machineName: machine.name, certPem: cert.certPem, caPem: signer(c.id).certPem,
        agentToken: await o.tokens.mint('agent', { sub: r.machineId, cluster: c.id, role }, o.agentTokenTtlS ?? 7 * 24 * 3600),
        tokenKey: o.tokens.publicJwk,
        scheduler: c.plan.scheduler,
        failSafe: (({ idleTimeoutMs, heartbeatTimeoutMs }) => ({ idleTimeoutMs, heartbeatTimeoutMs }))(resolveWatchdogConfig(watchdogOf(c))),
        logs: c.logs ?? { sink: 'local', dir: o.logsDir, group: logGroupFor(c.workspace) },
        ...(role === 'worker' && (c.workerThreads ?? machine.vcpus) !== undefined ? { nthreads: c.workerThreads ?? machine.vcpus } : {}),
      };
    },

    async bootFailed(token, report) {
      const claims = await o.tokens.verify('enrol', token);
      const c = claims.cluster !== undefined ? o.store.cluster(claims.cluster) : undefined;
      if (!c?.plan || claims.role === undefined) throw new SkiffError('BRK_FORBIDDEN', 'enrol token does not name a known cluster');
      if (!['pending', 'starting', 'running'].includes(c.state)) return; // already over: nothing to fail
      let who = `a ${claims.role}`;
      if (report.machineId !== '') {
        const machine = await backendFor(c.backend).attest(c.plan, report.machineId);
        if (!machine || machine.role !== claims.role) throw new SkiffError('BRK_FORBIDDEN', `machine ${report.machineId} is not a ${claims.role} of cluster ${c.id}`);
        who = `${machine.name} (${report.machineId})`;
      }
      const step = STEP_RE.test(report.step) ? report.step : 'unknown';
      const lines = report.text.split('\n').map((l) => stripControl(l).slice(0, 1000)).filter(Boolean).slice(-LAST_LINES);
      log.warn({ clusterId: c.id, machineId: report.machineId, step }, 'machine failed to boot');
      await fail(c.id, `${who} failed to boot at step "${step}"`, lines);
    },

    close: () => deadlines.close(),

    async agentEvent(token, raw) {
      const claims = await o.tokens.verify('agent', token);
      const c = claims.cluster !== undefined ? o.store.cluster(claims.cluster) : undefined;
      if (!c) throw new SkiffError('BRK_FORBIDDEN', 'agent token does not name a known cluster');
      const e = (raw ?? {}) as AgentEvent;
      switch (e.kind) {
        case 'ready':
          if (claims.role !== 'scheduler') throw new SkiffError('BRK_FORBIDDEN', 'only the scheduler reports readiness');
          o.store.putCluster({ ...c, schedulerReady: true, updatedAt: nowIso() });
          break;
        case 'workers': {
          if (claims.role !== 'scheduler' || typeof e.count !== 'number') throw new SkiffError('BRK_BAD_REQUEST', 'bad workers event');
          o.store.putCluster({ ...c, workersReady: e.count, updatedAt: nowIso() });
          break;
        }
        case 'failed':
          await fail(c.id, String(e.reason).slice(0, 500), Array.isArray(e.lastLogLines) ? e.lastLogLines.map(String) : undefined);
          return;
        case 'log':
          return;
        default:
          throw new SkiffError('BRK_BAD_REQUEST', 'unknown agent event');
      }
      maybeRunning(c.id);
    },

    userCredentials(ref, raw) {
      const c = find(ref);
      if (!ACTIVE_STATES.includes(c.state)) throw new SkiffError('BRK_CONFLICT', `cluster ${c.name} is ${c.state}; credentials are issued for live clusters only`);
      const csrPem = (raw as { csrPem?: unknown } | undefined)?.csrPem;
      if (typeof csrPem !== 'string') throw new SkiffError('BRK_BAD_REQUEST', 'credentials need a csrPem');
      const cert = signCsr(signer(c.id), {
        csrPem, profile: 'user', commonName: `user.${c.id}`, sans: { ips: [], dns: [] }, validityMs: o.userCertValidityMs ?? 24 * 3600_000, now,
      });
      o.store.putCertificate({ clusterId: c.id, serialHex: cert.serialHex, profile: 'user', subject: 'user', notAfter: cert.notAfter.toISOString(), issuedAt: nowIso() });
      return Promise.resolve({ caPem: signer(c.id).certPem, certPem: cert.certPem, notAfter: cert.notAfter.toISOString() });
    },

    async dashboardToken(ref) {
      const c = find(ref);
      if (!c.plan || !ACTIVE_STATES.includes(c.state)) throw new SkiffError('BRK_CONFLICT', `cluster ${c.name} is ${c.state}; it has no dashboard`);
      const ttl = o.dashboardTokenTtlS ?? 3600;
      const token = await o.tokens.mint('dashboard', { sub: 'user', cluster: c.id }, ttl);
      const s = c.plan.scheduler;
      return { token, url: `https://${s.publicHost}:${s.gatewayPort}/?token=${token}`, expiresAt: new Date(now().getTime() + ttl * 1000).toISOString() };
    },

    alert(clusterId, reason) {
      const c = o.store.cluster(clusterId);
      if (!c) return;
      const n = o.store.notify({ at: nowIso(), clusterId, kind: 'alert', reason });
      log.warn({ clusterId, reason }, 'cluster alert');
      o.onNotification?.(n, c);
    },

    notifications(ref, afterSeq = 0) {
      const id = ref !== undefined ? find(ref).id : undefined;
      const names = new Map(o.store.clusters().map((c) => [c.id, c.name]));
      return o.store
        .notifications(id)
        .filter((n) => n.seq > afterSeq)
        .map((n) => ({ ...n, clusterName: names.get(n.clusterId) ?? n.clusterId }));
    },

    async recover() {
      for (const c of o.store.clusters()) {
        if (c.state === 'running' || c.state === 'starting') {
          // Machines may have stopped themselves (the fail-safe) while the broker was away.
          const b = o.backends[c.backend];
          const machines = b && c.plan ? await b.machines(c.plan).catch(() => undefined) : undefined;
          if (machines && machines.length > 0 && machines.every((m) => m.state === 'stopped')) {
            const lines = c.plan && b ? await b.lastLogLines(c.plan, 2000).catch(() => []) : [];
            // The scheduler's own reason first (its machines are listed first), else a worker's.
            const why = lines.map(failSafeReason).find((x) => x !== undefined);
            setState({ ...c, lastLogLines: lines.slice(-LAST_LINES) }, 'stopped', `stopped itself while the broker was unreachable${why ? `: ${why}` : ''}`);
            continue;
          }
          if (c.state === 'running') o.watchdog?.track(c.id, watchdogOf(c));
          else if (c.startDeadline) deadlines.arm(c.id, Date.parse(c.startDeadline));
          continue;
        }
        if (c.state === 'stopping') {
          log.info({ clusterId: c.id }, 'finishing an interrupted stop');
          await this.down(c.id, { reason: c.reason ?? 'stopped by user' });
        } else if (c.state === 'pending') {
          await fail(c.id, 'the broker stopped before the machines were requested');
        }
      }
    },
  };
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

/** The reason in an agent's "fail-safe: stopping this machine" log line (lines read "<machine>: <json>"). */
function failSafeReason(line: string): string | undefined {
  try {
    const entry = JSON.parse(line.slice(line.indexOf('{'))) as { msg?: string; reason?: string };
    return entry.msg === 'fail-safe: stopping this machine' ? entry.reason : undefined;
  } catch {
    return undefined;
  }
}
