// The `aws` Backend: what the broker calls. plan() validates everything and creates nothing: it checks the
// request's syntax first (no call), then makes read-only calls only (zones, instance types, images, a BYO
// network, vCPU quotas; see preflight.ts) and stores those facts in the plan; apply() builds user-data from the
// enrolment tokens (never stored in the plan) and launches, handing each id a launch call returned to the broker
// (ApplyHooks.launched) for the cluster's record; attest() checks an instance is one of those, carries the
// cluster's tags and the ones EC2 writes at launch as skiff launches, is live, and that the requester is that
// instance (the signed instance identity document, instance-identity.ts); destroy() removes the cluster's own
// resources.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { SkiffError } from '../../broker/api/errors.js';
import type { ApplyHooks, Backend, ClusterPlan, ClusterSpec, Machine } from '../backend.js';
import { DASK_PORT, GATEWAY_PORT, SCHEDULER_HTTP_PORT, TELEMETRY_PORT, parseClusterRequest, planAwsCluster, type AwsClusterPlan } from '../plan/cluster-plan.js';
import { CLUSTER_TAG, OWNER_TAG, OWNER_VALUE, ROLE_TAG, WORKSPACE_TAG } from '../plan/tags.js';
import { buildUserData, type AgentBundleRef, type NodeRuntime } from '../plan/user-data.js';
import { awsErrorCode, type AwsPort } from './aws-port.js';
import { applyCluster } from './cluster-apply.js';
import { fromAwsTags, type AwsContext } from './context.js';
import { clusterFilter, LIVE_STATES, listInstances, toMachines } from './instances.js';
import { gatherPlanFacts } from './preflight.js';
import { verifyInstanceIdentity } from './instance-identity.js';
import { destroyClusterResources } from './teardown.js';
import { growWorkers, terminateWorkers } from './scale.js';

export interface AwsBackendDeps {
  /** The port for a region (SDK clients made by the entry point, e.g. with createSdkPort). */
  portFor: (region: string) => AwsPort;
  /** The agent bundle the broker serves, pinned by SHA-256 in user-data. */
  bundle: AgentBundleRef;
  node?: NodeRuntime;
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  randomId?: () => string;
  /** Bound on waiting for terminations and NAT gateways. Default 10 min. */
  waitTimeoutMs?: number;
  /** Default 5 s. */
  pollIntervalMs?: number;
  /**
   * Tests against an AWS emulator only: the certificate (PEM) whose key signs the simulated machines' identity
   * documents, trusted instead of AWS's regional certificates.
   */
  identityTestCertPem?: string;
}

/** The AwsClusterPlan the broker stores in ClusterPlan.detail.aws. */
export function awsPlanOf(plan: ClusterPlan): AwsClusterPlan {
  const p = plan.detail['aws'] as AwsClusterPlan | undefined;
  if (plan.backend !== 'aws' || (p?.version !== 1 && p?.version !== 2)) throw new SkiffError('PRV_INVALID_REQUEST', `plan of cluster ${plan.clusterId} is not an aws plan`);
  return p;
}

export function makeContext(deps: Omit<AwsBackendDeps, 'bundle' | 'node'>, region: string, hooks?: ApplyHooks): AwsContext {
  return {
    port: deps.portFor(region),
    portIn: deps.portFor,
    log: deps.log,
    sleep: deps.sleep ?? ((ms) => sleep(ms, undefined, { ref: false })),
    now: deps.now ?? Date.now,
    nonce: (deps.randomId ?? randomUUID)(),
    progress: hooks?.progress ?? (() => undefined),
    launched: async (ids, role) => {
      if (ids.length > 0) await hooks?.launched?.(ids.map((id) => ({ id, role, name: role === 'scheduler' ? 'scheduler' : id })));
    },
    notice: (m) => {
      hooks?.progress?.(m);
      hooks?.notice?.(m);
    },
    waitTimeoutMs: deps.waitTimeoutMs ?? 600_000,
    pollIntervalMs: deps.pollIntervalMs ?? 5_000,
  };
}

const INSTANCE_ID_RE = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;
/** Tags EC2 itself writes (the aws: prefix is reserved: no user can set or change them). */
const LAUNCH_TEMPLATE_TAG = 'aws:ec2launchtemplate:id';
const FLEET_TAG = 'aws:ec2:fleet-id';

/**
 * The tags EC2 wrote at launch agree with how skiff launches: the scheduler by RunInstances without a template
 * or fleet; a worker by EC2 Fleet from the cluster's own launch template. (EC2 writes both tags on a Fleet
 * instance; moto writes neither, so a worker without them is not refused for that alone: the record of launched
 * ids is what decides, this is a second check where EC2 gives it.)
 */
async function launchedAsSkiffDoes(ctx: AwsContext, aws: AwsClusterPlan, role: string, tags: Record<string, string>): Promise<boolean> {
  const template = tags[LAUNCH_TEMPLATE_TAG];
  if (role === 'scheduler') return template === undefined && tags[FLEET_TAG] === undefined;
  if (template === undefined) return true;
  let found;
  try {
    found = (await ctx.port.describeLaunchTemplates({ LaunchTemplateIds: [template] })).LaunchTemplates ?? [];
  } catch (err) {
    if (awsErrorCode(err)?.startsWith('InvalidLaunchTemplate')) return false;
    throw err;
  }
  const lt = found.find((x) => x.LaunchTemplateId === template);
  return lt?.LaunchTemplateName === aws.launchTemplate.name && fromAwsTags(lt.Tags)[CLUSTER_TAG] === aws.clusterId;
}

export function createAwsBackend(deps: AwsBackendDeps): Backend {
  const log = deps.log.child({ component: 'aws-backend' });
  const depsWithLog = { ...deps, log };
  const userDataInput = (spec: ClusterSpec, token: string) => ({
    brokerUrl: spec.brokerUrl,
    enrolToken: token,
    bundle: deps.bundle,
    ...(deps.node ? { node: deps.node } : {}),
    ...(spec.brokerCaPem ? { brokerCaPem: spec.brokerCaPem } : {}),
  });
  const plan = async (spec: ClusterSpec): Promise<ClusterPlan> => {
    // Syntax first: a bad request is refused before any API call.
    const req = { clusterId: spec.clusterId, name: spec.name, workers: spec.workers, options: spec.options, workspace: spec.workspace };
    const opts = parseClusterRequest(req);
    // Checks the user-data can be built (URL and tokens shell-safe, under 16 KB) before anything exists.
    for (const token of [spec.enrolTokens.scheduler, spec.enrolTokens.worker]) buildUserData(userDataInput(spec, token));
    const byo = opts.network ? { kind: 'byo' as const, workspace: opts.workspace, region: opts.region, ...opts.network } : undefined;
    // Then the account, read-only.
    const facts = await gatherPlanFacts(makeContext(depsWithLog, opts.region), opts, spec.workers, byo);
    const aws = planAwsCluster(req, facts);
    for (const w of aws.warnings) log.warn({ clusterId: spec.clusterId }, w);
    return {
      backend: 'aws',
      clusterId: spec.clusterId,
      scheduler: { privateHost: '', publicHost: '', daskPort: DASK_PORT, gatewayPort: GATEWAY_PORT, httpPort: SCHEDULER_HTTP_PORT, telemetryPort: TELEMETRY_PORT },
      machines: [],
      workspace: aws.workspace,
      cloudwatch: { region: aws.region, group: aws.logGroup.name, retentionDays: aws.logGroup.retentionDays },
      detail: { aws },
    };
  };
  return {
    name: 'aws',
    plan(spec: ClusterSpec): Promise<ClusterPlan> {
      // A bad request rejects (never throws synchronously).
      return Promise.resolve().then(() => plan(spec));
    },
    async apply(spec, plan, hooks) {
      const aws = awsPlanOf(plan);
      const ctx = makeContext(depsWithLog, aws.region, hooks);
      return applyCluster(ctx, aws, {
        brokerUrl: spec.brokerUrl,
        enrolTokens: spec.enrolTokens,
        bundle: deps.bundle,
        ...(deps.node ? { node: deps.node } : {}),
        ...(spec.brokerCaPem ? { brokerCaPem: spec.brokerCaPem } : {}),
      });
    },
    async attest(plan, machineId, evidence): Promise<Machine | undefined> {
      if (!INSTANCE_ID_RE.test(machineId)) return undefined;
      const aws = awsPlanOf(plan);
      // Only an instance skiff itself launched (the ids RunInstances and CreateFleet returned, on record in the
      // plan): tags alone are whatever anyone with ec2:CreateTags wrote.
      const recorded = plan.machines.find((m) => m.id === machineId);
      if (!recorded) {
        log.warn({ clusterId: aws.clusterId, machineId }, 'refused: an instance skiff did not launch for this cluster');
        return undefined;
      }
      const ctx = makeContext(depsWithLog, aws.region);
      let reservations;
      try {
        reservations = (await ctx.port.describeInstances({ Filters: [{ Name: 'instance-id', Values: [machineId] }] })).Reservations ?? [];
      } catch (err) {
        if (awsErrorCode(err)?.startsWith('InvalidInstanceID')) return undefined;
        throw err;
      }
      const reservation = reservations.find((r) => r.Instances?.some((i) => i.InstanceId === machineId));
      const inst = reservation?.Instances?.find((i) => i.InstanceId === machineId);
      const tags = fromAwsTags(inst?.Tags);
      if (!inst || tags[CLUSTER_TAG] !== aws.clusterId || tags[OWNER_TAG] !== OWNER_VALUE || tags[WORKSPACE_TAG] !== aws.workspace) return undefined;
      if (tags[ROLE_TAG] !== recorded.role) return undefined;
      if (!['pending', 'running'].includes(inst.State?.Name ?? '')) return undefined;
      if (!(await launchedAsSkiffDoes(ctx, aws, recorded.role, tags))) {
        log.warn({ clusterId: aws.clusterId, machineId }, 'refused: the instance was not launched the way skiff launches it');
        return undefined;
      }
      verifyInstanceIdentity(evidence.identity, {
        instanceId: machineId, region: aws.region, accountId: reservation?.OwnerId, launchTime: inst.LaunchTime,
        launchedAfter: evidence.launchedAfter, now: new Date((deps.now ?? Date.now)()),
      }, deps.identityTestCertPem);
      const all = toMachines(await listInstances(ctx, clusterFilter(aws.clusterId)), aws.instanceTypes ?? {});
      return all.find((m) => m.id === machineId) ?? toMachines([inst], aws.instanceTypes ?? {})[0];
    },
    async machines(plan) {
      const aws = awsPlanOf(plan);
      return toMachines(await listInstances(makeContext(depsWithLog, aws.region), clusterFilter(aws.clusterId)), aws.instanceTypes ?? {});
    },
    async destroy(plan, hooks) {
      const aws = awsPlanOf(plan);
      await destroyClusterResources(makeContext(depsWithLog, aws.region, hooks), { owner: OWNER_VALUE, [WORKSPACE_TAG]: aws.workspace }, aws.clusterId);
    },
    async grow(spec, plan, count, hooks) {
      const aws = awsPlanOf(plan);
      const userData = buildUserData(userDataInput(spec, spec.enrolTokens.worker));
      return { plan, machines: await growWorkers(makeContext(depsWithLog, aws.region, hooks), aws, count, userData) };
    },
    async shrink(plan, machineIds, hooks) {
      const aws = awsPlanOf(plan);
      await terminateWorkers(makeContext(depsWithLog, aws.region, hooks), machineIds);
      const gone = new Set(machineIds);
      return { ...plan, machines: plan.machines.filter((m) => !gone.has(m.id)) };
    },
    async lastLogLines(plan, maxLines) {
      // The agent writes one stream per machine, <clusterId>/<instance id>, in the workspace's group.
      const aws = awsPlanOf(plan);
      const ctx = makeContext(depsWithLog, aws.region);
      const all = await listInstances(ctx, clusterFilter(aws.clusterId, [...LIVE_STATES, 'terminated']));
      const scheduler = all.find((i) => fromAwsTags(i.Tags)['skiff:role'] === 'scheduler');
      if (!scheduler?.InstanceId) return [];
      try {
        const out = await ctx.port.getLogEvents({ logGroupName: aws.logGroup.name, logStreamName: `${aws.clusterId}/${scheduler.InstanceId}`, startFromHead: false, limit: Math.max(1, Math.min(maxLines, 10_000)) });
        return (out.events ?? []).map((e) => e.message ?? '').slice(-maxLines);
      } catch (err) {
        if (awsErrorCode(err) === 'ResourceNotFoundException') return [];
        throw err;
      }
    },
  };
}
