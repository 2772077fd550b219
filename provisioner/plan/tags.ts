// Tags skiff puts on every resource, and the names derived from them. `owner=skiff` is what the IAM policy's
// destructive statements are conditioned on; `skiff:key` names a shared-network resource uniquely within a
// workspace so a rerun finds it instead of creating a second one.

export type Tags = Record<string, string>;

export const OWNER_TAG = 'owner';
export const OWNER_VALUE = 'skiff';
export const WORKSPACE_TAG = 'skiff:workspace';
export const CLUSTER_TAG = 'skiff:cluster';
export const KEY_TAG = 'skiff:key';
export const ROLE_TAG = 'skiff:role';

export function baseTags(workspace: string, user: Tags): Tags {
  return { ...user, [OWNER_TAG]: OWNER_VALUE, [WORKSPACE_TAG]: workspace };
}

export function networkTags(base: Tags, workspace: string, key: string): Tags {
  return { ...base, [KEY_TAG]: key, Name: `skiff-${workspace}-${key}` };
}

/** Tags of a resource owned by one cluster; `part` is scheduler, worker, launch-template, ... */
export function clusterTags(base: Tags, clusterId: string, clusterName: string, part: string): Tags {
  return { ...base, [CLUSTER_TAG]: clusterId, [ROLE_TAG]: part, Name: `skiff-${clusterName}-${part}` };
}

/** A name safe for launch templates and security groups (letters, digits, dashes; at most 100 chars). */
export function safeName(value: string): string {
  return value.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 100);
}
