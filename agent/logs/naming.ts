// Where a cluster's logs live: one log group per workspace, one stream per machine, named so `skiff logs` can
// find a cluster's streams by prefix (and one machine's by name) in CloudWatch and in the local store alike.
//   group  /skiff/<workspace>
//   stream <clusterId>/<machine>        machine: scheduler | worker-1 | worker-2 ...
// CloudWatch allows [.-_/#A-Za-z0-9] in group names and anything but ':' and '*' in stream names.

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
