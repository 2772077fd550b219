// What a machine is told at boot: where the broker is and a single-use enrol token. Nothing else secret.
import { readFileSync } from 'node:fs';
import { SkiffError } from '../broker/api/errors.js';
import type { Role } from '../broker/api/wire.js';

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
}

export function loadAgentConfig(path: string): Readonly<AgentConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new SkiffError('AGT_CONFIG', `cannot read the agent configuration ${path}: ${(cause as Error).message}`, { cause });
  }
  const c = raw as Partial<AgentConfig>;
  const missing = (['brokerUrl', 'enrolToken', 'clusterId', 'machineId', 'role', 'machineDir', 'python', 'listenHost'] as const).filter(
    (k) => typeof c[k] !== 'string' || c[k] === '',
  );
  if (missing.length > 0) throw new SkiffError('AGT_CONFIG', `agent configuration ${path} lacks ${missing.join(', ')}`);
  if (c.role !== 'scheduler' && c.role !== 'worker') throw new SkiffError('AGT_CONFIG', `role must be scheduler or worker, not ${String(c.role)}`);
  return Object.freeze(c as AgentConfig);
}
