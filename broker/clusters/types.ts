// What the cluster service needs and offers. The service is split by concern (see service.ts); this file is
// the shape the broker and the API handler see.

import type { Logger } from 'pino';
import type {
  InstanceIdentity,
  AgentScaleState, BackendName, ClusterView, CredentialsResponse, DashboardTokenResponse, EnrolResponse, NotificationView, WatchdogSettings,
} from '../api/wire.js';
import type { Backend } from '../../provisioner/backend.js';
import type { TokenIssuer } from '../tokens/types.js';
import type { CaStore } from './ca-store.js';
import type { ClusterRecord, NotificationRecord, Store } from '../store/store.js';

export interface ClusterServiceOptions {
  store: Store;
  tokens: TokenIssuer;
  backends: Partial<Record<BackendName, Backend>>;
  caDir: string;
  /** Where the cluster CAs are kept (default: key files in caDir; the deployed broker's are sealed with KMS). */
  caStore?: CaStore;
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
  /** How often running clusters are reconciled with their requested worker count (default 5 s). */
  scaleIntervalMs?: number;
  /**
   * Whether this broker leads (broker/leader/leadership.ts). Only the leader makes the machines follow the
   * requested counts (launching, replacing, retiring); other brokers record the request and leave the rest to
   * it. Default: always (one broker).
   */
  isLeader?: () => boolean;
  /** Bounds on the backend's answers, in ms: apply is bounded by the start deadline instead. */
  backendTimeouts?: Partial<BackendTimeouts>;
}

export interface BackendTimeouts {
  /** Stopping every machine (a cloud takes minutes to terminate instances). Default 15 min. */
  destroyMs: number;
  /** attest, machines, lastLogLines: one or two API calls each. Default 60 s. */
  queryMs: number;
}

export interface ClusterService {
  /** `owner`: the principal id the cluster records as its owner (broker/auth/cluster-access.ts decides who may act on it). */
  create(req: unknown, by?: { owner?: string }): Promise<ClusterView>;
  list(): Promise<ClusterView[]>;
  get(ref: string): Promise<ClusterView>;
  /** Stop every machine; the cluster ends `stopped`, or `failed` when `failed` is set (e.g. never became ready). */
  down(ref: string, opts?: { reason?: string; failed?: boolean }): Promise<ClusterView>;
  enrol(req: unknown): Promise<EnrolResponse>;
  /**
   * A machine's boot failed before it enrolled: the enrol token of its role and its proof of identity (on AWS the
   * signed instance identity document) for a launched machine not enrolled yet. A pending or starting cluster
   * fails; a running one gets an alert about that machine. Its text is kept as the cluster's bootReport.
   */
  bootFailed(token: string, report: { machineId: string; step: string; text: string; identity?: InstanceIdentity }): Promise<void>;
  agentEvent(token: string, event: unknown): Promise<void>;
  userCredentials(ref: string, body: unknown): Promise<CredentialsResponse>;
  dashboardToken(ref: string): Promise<DashboardTokenResponse>;
  /** Set the requested worker count of a running cluster (turns adaptive scaling off); the machines follow. */
  scale(ref: string, body: unknown): Promise<ClusterView>;
  /** Adaptive scaling on (bounds) or off (`{ off: true }`). */
  adapt(ref: string, body: unknown): Promise<ClusterView>;
  /** What the scheduler's agent reads: the count wanted, adaptive bounds, a retire request (agent token). */
  agentScale(token: string): Promise<AgentScaleState>;
  /** After a broker restart: finish what a previous run left half-done. */
  recover(): Promise<void>;
  /** A watchdog alert (the cluster keeps running). */
  alert(clusterId: string, reason: string): Promise<void>;
  notifications(ref?: string, afterSeq?: number): Promise<NotificationView[]>;
  /** Settles when the cluster's launch (the backend's apply and what follows) has ended: for tests, instead of sleeping. */
  launched(clusterId: string): Promise<void>;
  /** Stop the start-deadline timers and abort running launches (the broker is closing). */
  close(): void;
}
