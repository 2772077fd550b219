// What a machine is told at boot: where the broker is and a single-use enrol token, nothing else secret.
// The local backend writes it as JSON (agent --config FILE); on a VM the user-data writes the same facts
// to /etc/skiff/agent.env. The agent reads both (agent/config.ts).
import type { Role } from './wire.js';

export interface AgentConfig {
  brokerUrl: string;
  enrolToken: string;
  clusterId: string;
  machineId: string;
  role: Role;
  /** The agent's own directory: keys, certificates, Dask's scratch space. */
  machineDir: string;
  /** Python that has Dask's `distributed` (Debian's python3-distributed at /usr/bin/python3). */
  python: string;
  /** Interface the scheduler and gateway bind to (127.0.0.1 locally, 0.0.0.0 on a VM). */
  listenHost: string;
  /**
   * The broker's CA certificate (PEM file), trusted alone for every call to the broker (pinned-fetch.ts), when the
   * broker's certificate comes from a private CA: on a VM /etc/skiff/broker-ca.pem, from the user-data.
   */
  brokerCaFile?: string;
  /** Software environments, one per spec hash, shared by the clusters of this machine (default <machineDir>/envs). */
  envsDir?: string;
}
