// Where a cluster's logs live: one log group per workspace, one stream per machine, named so `skiff logs` can
// find a cluster's streams by prefix (and one machine's by name) in CloudWatch and in the local store alike.
//   group  /skiff/<workspace>
//   stream <clusterId>/<machine>        machine: scheduler | worker-1 | worker-2 ...
// CloudWatch allows [.-_/#A-Za-z0-9] in group names and anything but ':' and '*' in stream names.
// The agent writes logs under these names (CloudWatch or the local store); `skiff logs` reads them back.
import { join } from 'node:path';

/** The retention values CloudWatch accepts, in days, and skiff's default for a group it creates. */
export const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
export const DEFAULT_RETENTION_DAYS = 30;

export function isRetentionDays(days: unknown): boolean {
  return typeof days === 'number' && (RETENTION_DAYS as readonly number[]).includes(days);
}

/** What a sink stores and a reader returns: CloudWatch's event shape. */
export interface LogEvent {
  timestamp: number;
  message: string;
}

/** A log group (one per workspace) and a log stream (one per machine). */
export interface LogStreamRef {
  group: string;
  stream: string;
}

/** An event as `skiff logs` reads it. */
export interface ReadEvent {
  timestamp: number;
  stream: string;
  message: string;
}

export function logGroupFor(workspace: string): string {
  return `/skiff/${workspace.replace(/[^.\-_/#A-Za-z0-9]/g, '-')}`;
}

export function logStreamFor(clusterId: string, machine: string): string {
  return `${clusterId}/${machine}`.replace(/[:*]/g, '-');
}

/** The prefix shared by every stream of one cluster (for readLogs' `streamPrefix`). */
export function clusterStreamPrefix(clusterId: string): string {
  return `${clusterId.replace(/[:*]/g, '-')}/`;
}

/** The machine part of a stream name (what `skiff logs` prints beside each line). */
export function machineOf(stream: string): string {
  const slash = stream.indexOf('/');
  return slash < 0 ? stream : stream.slice(slash + 1);
}

// The embedded log store of the `local` backend: one JSON-lines file per stream, under <dir>/<group>/<stream>.jsonl,
// each line {"t": timestampMs, "m": message}.

/** A group or stream name as a safe file name (CloudWatch names allow '/', '#', ':' ...). */
export function storeName(name: string): string {
  return encodeURIComponent(name).replace(/\./g, '%2E');
}

export function localStreamPath(dir: string, target: LogStreamRef): string {
  return join(dir, storeName(target.group), `${storeName(target.stream)}.jsonl`);
}
