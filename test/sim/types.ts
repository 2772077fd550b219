// What the test side and the daemon (inside the outer namespace) say to each other, and the shapes both use.
// Plain data only: everything here crosses the JSON channel.

/** How a test changes the machine an image boots into (the host's Debian 12 userland by default). */
export interface VmImageProfile {
  /** Content of /etc/os-release (see OS_RELEASE in images.ts). */
  osRelease?: string;
  /** Paths deleted from the VM before boot, e.g. '/usr/bin/node' (only the VM's overlay changes). */
  remove?: string[];
  /** Files written into the VM before boot: absolute path → content, or content with a mode (default 0644). */
  files?: Record<string, string | { content: string; mode?: number }>;
  /** Make `node` claim this version (e.g. '18.19.0') for `--version` and `process.versions`. */
  nodeVersion?: string;
  /** The machine never gets as far as running its user-data (no VM processes at all), like an instance stuck at boot. */
  neverBoots?: boolean;
}

/** Keyed by AMI id, by image-name prefix (e.g. 'al2023-ami-'), or '*' for every image. */
export type ImageProfiles = Record<string, VmImageProfile>;

/** The interruption notice IMDS serves at meta-data/spot/instance-action. */
export interface SpotAction {
  action: 'terminate' | 'stop' | 'hibernate';
  /** ISO 8601 UTC, e.g. 2025-10-06T12:02:00Z. */
  time: string;
}

export type VmState = 'booting' | 'running' | 'gone';

/** One VM as the daemon reports it. */
export interface VmSnapshot {
  instanceId: string;
  /** The instance's `skiff:role` tag (scheduler, worker, ...). */
  role?: string;
  privateIp: string;
  publicIp?: string;
  state: VmState;
  /** Why it is gone: 'terminated in moto', 'powered off', ... */
  goneReason?: string;
  netns: string;
  /** Host path of this VM's state: log/ (its /var/log), run/ (its /run/skiff-sim), console.log. */
  stateDir: string;
  /** Host pid of the VM's pid 1 while it runs. */
  pid1?: number;
  imageId: string;
  instanceType: string;
  /** Exit code of the user-data script, once it has finished. */
  userDataExit?: number;
}

/** Written by the test side, read once by the daemon at start. */
export interface DaemonConfig {
  id: string;
  outerNs: string;
  nsPrefix: string;
  vethPrefix: string;
  stateRoot: string;
  region: string;
  /** KEY=VALUE added to every systemd unit's environment inside the VMs. */
  unitEnv: Record<string, string>;
  images: ImageProfiles;
  /** The repository root: hidden inside VMs (a real VM has no checkout of skiff). */
  repoRoot: string;
  pollIntervalMs: number;
  motoPython: string;
  /** At most this many VMs at once; further instances stay unbooted (and are logged). */
  maxVms: number;
  /** The test process's network namespace (the host's): the daemon refuses to run in it. */
  hostNetNs: string;
}

export type RpcMethod =
  | 'expose'
  | 'canConnect'
  | 'setSpotAction'
  | 'setRebalance'
  | 'setImage'
  | 'shutdown';

export interface RpcParams {
  expose: { host: string; port: number };
  canConnect: { host: string; port: number; timeoutMs: number };
  setSpotAction: { instanceId: string; action?: SpotAction };
  setRebalance: { instanceId: string; noticeTime?: string };
  setImage: { key: string; profile?: VmImageProfile };
  shutdown: Record<string, never>;
}

export interface RpcResults {
  expose: { socketPath: string };
  canConnect: { connected: boolean };
  setSpotAction: Record<string, never>;
  setRebalance: Record<string, never>;
  setImage: Record<string, never>;
  shutdown: Record<string, never>;
}

export type ToDaemon = { type: 'request'; id: number; method: RpcMethod; params: unknown };

export type FromDaemon =
  | { type: 'ready'; motoEndpoint: string; identityCertPem: string }
  | { type: 'response'; id: number; ok: true; result: unknown }
  | { type: 'response'; id: number; ok: false; error: string }
  | { type: 'vm'; vm: VmSnapshot }
  | { type: 'fatal'; error: string };
