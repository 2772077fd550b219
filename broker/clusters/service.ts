// The cluster service: what the user's CLI asks of the broker (create, list, down, credentials, dashboard
// tokens, notifications), put together with the machines' side (machines-api.ts), the life cycle
// (lifecycle.ts), recovery after a restart (recovery.ts) and the CAs (ca-store.ts). The only place that
// holds the cluster CAs' keys.

import { randomBytes } from 'node:crypto';
import { SkiffError } from '../api/errors.js';
import type { LogTarget } from '../api/wire.js';
import type { ClusterPlan, ClusterSpec } from '../../provisioner/backend.js';
import { signCsr } from '../pki/sign.js';
import { ACTIVE_STATES, clusterView, type ClusterRecord } from '../store/store.js';
import { DEFAULT_START_TIMEOUT_MS, isLoopbackUrl, parseCreateRequest } from '../cluster-request.js';
import { DEFAULT_RETENTION_DAYS, logGroupFor } from '../api/logs.js';
import { DEFAULT_WORKSPACE } from '../api/limits.js';
import { bounded } from './bounded.js';
import { createCaStore } from './ca-store.js';
import { createLifecycle } from './lifecycle.js';
import { createMachinesApi } from './machines-api.js';
import { createScaling } from './scaling.js';
import { recoverClusters } from './recovery.js';
import { clusterNotFound } from './not-found.js';
import type { ClusterService, ClusterServiceOptions } from './types.js';

export type { ClusterService, ClusterServiceOptions } from './types.js';

export function createClusterService(opts: ClusterServiceOptions): ClusterService {
  const o = { ...opts, now: opts.now ?? (() => new Date()) };
  const log = o.log;
  const nowIso = () => o.now().toISOString();
  const cas = o.caStore ?? createCaStore({ dir: o.caDir, now: o.now });
  const life = createLifecycle({ ...o, onOver: (id) => cas.retire(id) });
  const find = async (ref: string): Promise<ClusterRecord> => {
    const c = await o.store.findCluster(ref);
    if (!c) throw clusterNotFound(ref);
    return c;
  };
  const specFor = async (c: ClusterRecord, options?: Record<string, unknown>): Promise<ClusterSpec> => ({
    clusterId: c.id,
    name: c.name,
    workers: c.workers,
    workspace: c.workspace,
    brokerUrl: o.brokerUrl,
    ...(o.brokerCaPem ? { brokerCaPem: o.brokerCaPem } : {}),
    ...(options ? { options } : {}),
    enrolTokens: {
      scheduler: await o.tokens.mint('enrol', { sub: `${c.id}/scheduler`, cluster: c.id, role: 'scheduler' }, o.enrolTokenTtlS ?? 1800),
      worker: await o.tokens.mint('enrol', { sub: `${c.id}/worker`, cluster: c.id, role: 'worker' }, o.enrolTokenTtlS ?? 1800),
    },
  });

  const scaling = createScaling({ ...o, specFor: (c) => specFor(c) }, life, { ...(o.scaleIntervalMs !== undefined ? { intervalMs: o.scaleIntervalMs } : {}) });
  scaling.start();

  const service: ClusterService = {
    ...createMachinesApi(o, life, cas, (c, claims, e) => scaling.event(c, claims, e)),

    scale: async (ref, body) => scaling.scale(await find(ref), body),
    adapt: async (ref, body) => scaling.adapt(await find(ref), body),
    async agentScale(token) {
      const claims = await o.tokens.verify('agent', token);
      const c = claims.cluster !== undefined ? await o.store.cluster(claims.cluster) : undefined;
      if (!c || claims.role !== 'scheduler') throw new SkiffError('BRK_FORBIDDEN', 'only the scheduler\'s agent of a known cluster reads its scaling');
      return scaling.agentState(c);
    },

    async create(raw, by = {}) {
      const req = parseCreateRequest(raw);
      const b = life.backendFor(req.backend);
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
      // Names are each owner's: another's cluster of the same name is none of this caller's business.
      const clash = (await o.store.clusters()).find((c) => c.name === name && ACTIVE_STATES.includes(c.state) && (c.owner ?? 'local') === (by.owner ?? 'local'));
      if (clash) throw new SkiffError('BRK_CONFLICT', `a cluster named "${name}" is already ${clash.state}; pick another name or \`skiff down ${name}\` first`);
      const at = nowIso();
      const startTimeoutMs = req.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS[req.backend];
      let c: ClusterRecord = {
        id, name, workspace: req.workspace ?? DEFAULT_WORKSPACE, backend: req.backend, state: 'pending', workers: req.workers, workersReady: 0, schedulerReady: false,
        ...(by.owner !== undefined ? { owner: by.owner } : {}),
        createdAt: at, updatedAt: at, startDeadline: new Date(Date.parse(at) + startTimeoutMs).toISOString(),
        ...(req.workerThreads !== undefined ? { workerThreads: req.workerThreads } : {}),
        ...(req.software ? { software: req.software } : {}),
        ...(req.env ? { env: req.env } : {}),
        dataAccess: { forwardAws: req.forwardAwsCredentials, secretEnv: req.secretEnv ?? [] },
        ...(req.watchdog ? { watchdog: req.watchdog } : {}), ...(req.webhookUrl ? { webhookUrl: req.webhookUrl } : {}),
      };
      const spec = await specFor(c, req.options);
      // Everything is validated (the backend's plan included) before the first resource exists.
      const plan: ClusterPlan = await b.plan(spec);
      // The plan says which workspace the cluster is in and, on a cloud, which log group it prepared.
      const workspace = plan.workspace;
      const logs: LogTarget = req.backend === 'aws' || req.logs === 'cloudwatch'
        ? plan.cloudwatch
          ? { sink: 'cloudwatch', ...plan.cloudwatch }
          : { sink: 'cloudwatch', region: o.defaultRegion ?? 'us-east-1', group: logGroupFor(workspace), retentionDays: DEFAULT_RETENTION_DAYS }
        : { sink: 'local', dir: o.logsDir, group: logGroupFor(workspace) };
      await cas.create(id);
      c = { ...c, workspace, plan, logs };
      c = await o.store.putCluster(c);
      const created = await o.store.notify({ at, clusterId: id, kind: 'state', state: 'pending' });
      o.onNotification?.(created, c);
      log.info({ clusterId: id, name, workers: req.workers, backend: req.backend, startDeadline: c.startDeadline, software: req.software?.hash, owner: by.owner }, 'cluster created');
      life.armDeadline(c);
      void life.launch(c, spec);
      return clusterView(c);
    },

    list: async () => (await o.store.clusters()).map(clusterView),
    get: async (ref) => clusterView(await find(ref)),

    async down(ref, opts = {}) {
      let c = await find(ref);
      if (opts.failed) {
        await life.fail(c.id, opts.reason ?? 'failed');
        return clusterView(await find(c.id));
      }
      const reason = opts.reason ?? 'stopped by user';
      if (c.state === 'stopped') return clusterView(c);
      const wasFailed = c.state === 'failed';
      if (!wasFailed) c = await life.setState(c, 'stopping', reason);
      const b = o.backends[c.backend];
      // Bounded: a cloud that does not answer leaves the cluster stopping; `down` again, or the next broker, finishes it.
      if (b && c.plan) await bounded(`stopping the machines of ${c.name}`, life.timeouts.destroyMs, b.destroy(c.plan));
      if (wasFailed) return clusterView(c);
      c = await life.setState((await o.store.cluster(c.id)) ?? c, 'stopped', reason);
      return clusterView(c);
    },

    async userCredentials(ref, raw) {
      const c = await find(ref);
      if (!ACTIVE_STATES.includes(c.state)) throw new SkiffError('BRK_CONFLICT', `cluster ${c.name} is ${c.state}; credentials are issued for live clusters only`);
      const csrPem = (raw as { csrPem?: unknown } | undefined)?.csrPem;
      if (typeof csrPem !== 'string') throw new SkiffError('BRK_BAD_REQUEST', 'credentials need a csrPem');
      const signer = cas.signer(c.id);
      const cert = signCsr(signer, {
        csrPem, profile: 'user', commonName: `user.${c.id}`, holder: { cluster: c.id, role: 'user' }, sans: { ips: [], dns: [] }, validityMs: o.userCertValidityMs ?? 24 * 3600_000, now: o.now,
      });
      await o.store.putCertificate({ clusterId: c.id, serialHex: cert.serialHex, profile: 'user', subject: 'user', notAfter: cert.notAfter.toISOString(), issuedAt: nowIso() });
      return { caPem: signer.certPem, certPem: cert.certPem, notAfter: cert.notAfter.toISOString() };
    },

    async dashboardToken(ref) {
      const c = await find(ref);
      if (!c.plan || !ACTIVE_STATES.includes(c.state)) throw new SkiffError('BRK_CONFLICT', `cluster ${c.name} is ${c.state}; it has no dashboard`);
      const ttl = o.dashboardTokenTtlS ?? 900; // a ticket: exchanged once at the gateway for a session
      const token = await o.tokens.mint('dashboard', { sub: 'user', cluster: c.id }, ttl);
      const s = c.plan.scheduler;
      return { token, url: `https://${s.publicHost}:${s.gatewayPort}/?token=${token}`, expiresAt: new Date(o.now().getTime() + ttl * 1000).toISOString() };
    },

    async alert(clusterId, reason) {
      const c = await o.store.cluster(clusterId);
      if (!c) return;
      const n = await o.store.notify({ at: nowIso(), clusterId, kind: 'alert', reason });
      log.warn({ clusterId, reason }, 'cluster alert');
      o.onNotification?.(n, c);
    },

    async notifications(ref, afterSeq = 0) {
      const id = ref !== undefined ? (await find(ref)).id : undefined;
      const names = new Map((await o.store.clusters()).map((c) => [c.id, c.name]));
      return (await o.store.notifications(id, afterSeq))
        .map((n) => ({ ...n, clusterName: names.get(n.clusterId) ?? n.clusterId }));
    },

    recover: () => recoverClusters(o, life, (ref, opts) => service.down(ref, opts)),
    launched: (id) => life.launched(id),
    close: () => {
      scaling.close();
      life.close();
    },
  };
  return service;
}
