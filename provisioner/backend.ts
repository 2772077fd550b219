// The one interface every backend implements. The broker drives a cluster's machines only through this;
// cloud SDK types never appear here.
//
//   plan(spec)   validates the whole request, decides names, addresses and ports, creates nothing. It may make
//                read-only cloud calls (aws: zones, instance types, images, quotas), never one that creates or
//                changes anything; a syntactically bad request is refused before any call. A bad request, or
//                one the account cannot run (e.g. above its vCPU quota), throws PRV_INVALID_REQUEST here.
//   apply(plan)  creates the machines (idempotent: a rerun converges). On failure it removes what it made.
//   attest(...)  tells whether a machine id really is one this backend launched for that cluster, and that the
//                requester proves it is that machine (an enrolment, a boot failure report).
//   destroy(id)  stops every machine of the cluster (idempotent; a second call is a no-op).
//   grow(...)    launches more workers of a running cluster with its own options (aws: one Fleet request).
//   shrink(...)  stops exactly the machines named (idempotent), e.g. workers Dask has retired.

import type { BackendName, InstanceIdentity, Role, SchedulerEndpoints } from '../broker/api/wire.js';

// The broker reaches the provisioner through this file alone (broker/broker.ts, the composition root, also
// constructs the backends): the few plain helpers its CLI needs are re-exported here, none of them loads an SDK.
export { DEFAULT_REGION, isSupportedRegion } from './plan/regions.js';
export { processAlive } from './local/processes.js';

export interface ClusterSpec {
  clusterId: string;
  name: string;
  workers: number;
  /** URL the agents use to reach the broker. */
  brokerUrl: string;
  /** The CA certificate (PEM, public) the broker's HTTPS certificate chains to, pinned on the machines. */
  brokerCaPem?: string;
  /** Single-purpose, short-lived enrolment tokens, one per role. The only secret a machine is given. */
  enrolTokens: Record<Role, string>;
  /** The workspace the request names (default `default`); the plan says which one the cluster belongs to. */
  workspace: string;
  /** Backend-specific options, validated by plan(). */
  options?: Readonly<Record<string, unknown>>;
}

export interface MachinePlan {
  /** Backend-unique id (a local machine id, an EC2 instance id once known). */
  id: string;
  role: Role;
  /** scheduler, worker-1, worker-2, ... */
  name: string;
}

export interface ClusterPlan {
  backend: BackendName;
  clusterId: string;
  scheduler: SchedulerEndpoints;
  /**
   * The machines the backend launched: known ahead of time locally; on a cloud that assigns ids at launch, added
   * as each launch call returns them (ApplyHooks.launched). Only these can enrol or report a boot failure.
   */
  machines: MachinePlan[];
  /** The workspace the cluster belongs to: its log group, its network and agent role on a cloud, what gc sees. */
  workspace: string;
  /** The CloudWatch log group the backend prepared for the machines (aws): where they ship, and its retention. */
  cloudwatch?: { region: string; group: string; retentionDays: number };
  /** Backend-specific data the broker stores and hands back to apply/destroy untouched. */
  detail: Readonly<Record<string, unknown>>;
}

export interface Machine extends MachinePlan {
  state: 'starting' | 'running' | 'stopped';
  /** The cloud's machine type, e.g. m6i.xlarge (absent locally). */
  instanceType?: string;
  /** CPUs this machine gives Dask: the type's vCPUs on a cloud, a share of this computer's locally. */
  vcpus?: number;
  privateHost?: string;
  publicHost?: string;
}

/** What an enrolling machine sends to prove which machine it is. */
export interface MachineEvidence {
  /** AWS: the instance identity document and its signature, as IMDS served them. */
  identity?: InstanceIdentity;
  /** The start of the cluster's launch window (its creation): a machine launched before it is not the cluster's. */
  launchedAfter: Date;
}

export interface ApplyHooks {
  /** Human-readable progress, e.g. 'started worker-2 (pid 1234)'. */
  progress?: (message: string) => void;
  /**
   * What the user must be told and not only logged (the broker keeps it as the cluster's reason, shows it in `up`
   * and `status`, and notifies it), e.g. 'workers fell back to on-demand: ...'. Also given to progress.
   */
  notice?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * A cloud that assigns ids at launch calls this with the machines the moment its launch call returned them,
   * before they can have booted: the broker adds them to the plan's machines, and attest() accepts no other id.
   * Awaited, so a machine is on record before apply or grow goes on.
   */
  launched?: (machines: MachinePlan[]) => Promise<void>;
}

export interface Backend {
  readonly name: BackendName;
  /** The most workers one cluster may have here (absent: no limit of the backend's own). */
  readonly maxWorkers?: number;
  plan(spec: ClusterSpec): Promise<ClusterPlan>;
  apply(spec: ClusterSpec, plan: ClusterPlan, hooks?: ApplyHooks): Promise<Machine[]>;
  /**
   * Whether the id names a live machine this backend launched for the cluster (one of the plan's machines) and
   * the requester proves it is that machine: nothing more locally (the Unix user is the boundary); on AWS the
   * signed instance identity document, or PRV_NOT_ATTESTED. Asked at enrolment and for a boot failure report.
   */
  attest(plan: ClusterPlan, machineId: string, evidence: MachineEvidence): Promise<Machine | undefined>;
  machines(plan: ClusterPlan): Promise<Machine[]>;
  destroy(plan: ClusterPlan, hooks?: ApplyHooks): Promise<void>;
  /**
   * Launches `count` more workers, each with its own enrolment (the spec's fresh worker enrol token). Returns
   * the plan as it is now (locally the new machines are in it) and the workers launched, possibly fewer than
   * `count` when capacity is short.
   */
  grow(spec: ClusterSpec, plan: ClusterPlan, count: number, hooks?: ApplyHooks): Promise<{ plan: ClusterPlan; machines: Machine[] }>;
  /** Stops exactly these machines and returns the plan without them (idempotent: a gone machine is fine). */
  shrink(plan: ClusterPlan, machineIds: readonly string[], hooks?: ApplyHooks): Promise<ClusterPlan>;
  /** Last lines a machine logged, to explain a failed start. */
  lastLogLines(plan: ClusterPlan, maxLines: number): Promise<string[]>;
}
