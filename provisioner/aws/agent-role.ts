// The agents' IAM identities (see plan/agent-role.ts): the workspace's permissions boundary, a workspace-level
// resource like the shared network (`skiff setup aws` and the first `skiff up` create it, `skiff network delete`
// removes it), and one role and instance profile per cluster, made by `skiff up` before the first launch and
// removed by `skiff down` (and by a failed apply) once the cluster's instances are gone. IAM is global.
//
// Creation order makes a half-done run safe to resume: role (with its boundary) → inline policy → profile →
// role in profile. A profile that holds the role therefore implies a role that has its policy.

import type { InstanceProfile, Role, Tag } from '@aws-sdk/client-iam';
import { SkiffError } from '../../broker/api/errors.js';
import {
  AGENT_BOUNDARY_PATH,
  AGENT_POLICY_NAME,
  agentBoundaryName,
  agentLogsPolicy,
  agentRoleName,
  agentTrustPolicy,
  clusterAgentLogsPolicy,
  clusterAgentRoleName,
  clusterAgentRolePrefix,
} from '../plan/agent-role.js';
import { CLUSTER_TAG, OWNER_TAG, OWNER_VALUE, WORKSPACE_TAG, type Tags } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';

const isCode = (err: unknown, re: RegExp): boolean => re.test(awsErrorCode(err) ?? '');
const NOT_FOUND = /^NoSuchEntity/;
const EXISTS = /^EntityAlreadyExists/;
const DENIED = /^(AccessDenied|UnauthorizedOperation)/;

const iamTags = (tags: Tags): Tag[] => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const ownedBySkiff = (tags: Tag[] | undefined): boolean => (tags ?? []).some((t) => t.Key === OWNER_TAG && t.Value === OWNER_VALUE);

async function getProfile(ctx: AwsContext, name: string): Promise<InstanceProfile | undefined> {
  try {
    return (await ctx.port.getInstanceProfile({ InstanceProfileName: name })).InstanceProfile;
  } catch (err) {
    if (isCode(err, NOT_FOUND)) return undefined;
    throw err;
  }
}

const holdsRole = (profile: InstanceProfile | undefined, role: string): boolean => (profile?.Roles ?? []).some((r) => r.RoleName === role);

function notOurs(kind: string, name: string): SkiffError {
  return new SkiffError(
    'PRV_INVALID_REQUEST',
    `an IAM ${kind} named ${name} exists but is not tagged owner=skiff, so skiff will not change it; delete or rename it, or give the instance_profile option`,
  );
}

/** The ARN of the workspace's boundary policy, if it exists (ListPolicies under skiff's path: no account id needed). */
async function findBoundary(ctx: AwsContext, workspace: string): Promise<string | undefined> {
  const name = agentBoundaryName(workspace);
  let Marker: string | undefined;
  do {
    const out = await ctx.port.listPolicies({ Scope: 'Local', PathPrefix: AGENT_BOUNDARY_PATH, ...(Marker ? { Marker } : {}) });
    const found = (out.Policies ?? []).find((p) => p.PolicyName === name);
    if (found?.Arn) return found.Arn;
    Marker = out.IsTruncated ? out.Marker : undefined;
  } while (Marker);
  return undefined;
}

/** Creates the workspace's permissions boundary if it is missing. Returns its ARN. */
export async function ensureAgentBoundary(ctx: AwsContext, workspace: string, tags: Tags): Promise<string> {
  const existing = await findBoundary(ctx, workspace);
  if (existing) return existing;
  try {
    const out = await ctx.port.createPolicy({
      PolicyName: agentBoundaryName(workspace),
      Path: AGENT_BOUNDARY_PATH,
      PolicyDocument: agentLogsPolicy(workspace),
      Description: `skiff agents of workspace ${workspace}: at most write to its CloudWatch log group`,
      Tags: iamTags(tags),
    });
    if (out.Policy?.Arn) {
      ctx.progress(`agents' permissions boundary ${agentBoundaryName(workspace)} ready`);
      return out.Policy.Arn;
    }
  } catch (err) {
    if (!isCode(err, EXISTS)) throw err;
  }
  const arn = await findBoundary(ctx, workspace);
  if (!arn) throw new SkiffError('PRV_CLOUD_ERROR', `IAM did not return the ARN of policy ${agentBoundaryName(workspace)}; run the command again`);
  return arn;
}

async function getRoleOrUndefined(ctx: AwsContext, name: string): Promise<Role | undefined> {
  try {
    return (await ctx.port.getRole({ RoleName: name })).Role;
  } catch (err) {
    if (isCode(err, NOT_FOUND)) return undefined;
    throw err;
  }
}

/**
 * Creates what is missing of a cluster's role (bounded by the workspace's boundary, its inline policy writing to
 * the cluster's own log streams only) and its instance profile. Returns the profile name for the launches.
 */
export async function ensureClusterAgentRole(ctx: AwsContext, workspace: string, clusterId: string, tags: Tags): Promise<string> {
  const name = clusterAgentRoleName(workspace, clusterId);
  const { port } = ctx;
  const boundary = await ensureAgentBoundary(ctx, workspace, tags);
  const roleTags = { ...tags, [CLUSTER_TAG]: clusterId };
  const role = await getRoleOrUndefined(ctx, name);
  if (role && !ownedBySkiff(role.Tags)) throw notOurs('role', name);
  if (!role) {
    try {
      await port.createRole({
        RoleName: name,
        AssumeRolePolicyDocument: agentTrustPolicy(),
        PermissionsBoundary: boundary,
        Description: `skiff agents of cluster ${clusterId} (workspace ${workspace}): write to their own log streams`,
        Tags: iamTags(roleTags),
      });
    } catch (err) {
      if (!isCode(err, EXISTS)) throw err;
    }
  }
  await port.putRolePolicy({ RoleName: name, PolicyName: AGENT_POLICY_NAME, PolicyDocument: clusterAgentLogsPolicy(workspace, clusterId) });

  const profile = await getProfile(ctx, name);
  if (profile && !ownedBySkiff(profile.Tags)) throw notOurs('instance profile', name);
  if (!profile) {
    try {
      await port.createInstanceProfile({ InstanceProfileName: name, Tags: iamTags(roleTags) });
    } catch (err) {
      if (!isCode(err, EXISTS)) throw err;
    }
  }
  if (!holdsRole(profile, name)) {
    try {
      await port.addRoleToInstanceProfile({ InstanceProfileName: name, RoleName: name });
    } catch (err) {
      // LimitExceeded: the profile already holds a role since we read it (a concurrent run): fine if it is ours.
      if (!isCode(err, /^LimitExceeded/) || !holdsRole(await getProfile(ctx, name), name)) throw err;
    }
  }
  return name;
}

/**
 * For `skiff up`: the cluster's own profile, to put in the launch template and on the scheduler. Creating it
 * needs the "ongoing" IAM permissions (bounded roles only); a denial says what is missing.
 */
export async function agentProfileForLaunch(ctx: AwsContext, workspace: string, clusterId: string, tags: Tags): Promise<string> {
  try {
    return await ensureClusterAgentRole(ctx, workspace, clusterId, tags);
  } catch (err) {
    if (!isCode(err, DENIED)) throw err;
    throw new SkiffError(
      'PRV_CLOUD_ERROR',
      `these credentials may not create the cluster's agent role ${clusterAgentRoleName(workspace, clusterId)} (${awsErrorCode(err) ?? 'denied'}); ` +
        'attach the "ongoing" policy printed by skiff policy aws (it allows roles bounded by the workspace\'s boundary only), ' +
        'run skiff setup aws once with the "setup" policy if the boundary does not exist yet, or give the instance_profile option',
      { cause: err },
    );
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isCode(err, NOT_FOUND)) throw err;
  }
}

/** Removes a role and its profile of the same name if skiff made them (tagged owner=skiff). Idempotent. */
async function deleteRoleAndProfile(ctx: AwsContext, name: string): Promise<string[]> {
  const { port } = ctx;
  const deleted: string[] = [];
  const profile = await getProfile(ctx, name);
  if (profile && ownedBySkiff(profile.Tags)) {
    for (const r of profile.Roles ?? []) {
      if (r.RoleName) await ignoreNotFound(port.removeRoleFromInstanceProfile({ InstanceProfileName: name, RoleName: r.RoleName }));
    }
    await ignoreNotFound(port.deleteInstanceProfile({ InstanceProfileName: name }));
    deleted.push(`instance-profile/${name}`);
  }
  const role = await getRoleOrUndefined(ctx, name);
  if (role && ownedBySkiff(role.Tags)) {
    await ignoreNotFound(port.deleteRolePolicy({ RoleName: name, PolicyName: AGENT_POLICY_NAME }));
    await ignoreNotFound(port.deleteRole({ RoleName: name }));
    deleted.push(`role/${name}`);
  }
  return deleted;
}

/** `skiff down`: the cluster's role and profile, once its instances are gone. Idempotent. */
export async function deleteClusterAgentRole(ctx: AwsContext, workspace: string, clusterId: string): Promise<string[]> {
  return deleteRoleAndProfile(ctx, clusterAgentRoleName(workspace, clusterId));
}

/** The cluster roles skiff made, of one workspace or of all, with the cluster id they are tagged with. */
export async function listClusterAgentRoles(ctx: AwsContext, workspace?: string): Promise<Array<{ name: string; clusterId: string; workspace: string }>> {
  const prefix = workspace === undefined ? 'skiff-agent-' : clusterAgentRolePrefix(workspace);
  const out: Array<{ name: string; clusterId: string; workspace: string }> = [];
  let Marker: string | undefined;
  do {
    const page = await ctx.port.listRoles({ ...(Marker ? { Marker } : {}) });
    for (const r of page.Roles ?? []) {
      if (!r.RoleName?.startsWith(prefix)) continue;
      // ListRoles does not return tags: read the role for them.
      const tags = (await getRoleOrUndefined(ctx, r.RoleName))?.Tags ?? [];
      const tag = (k: string) => tags.find((x) => x.Key === k)?.Value;
      const clusterId = tag(CLUSTER_TAG);
      const ws = tag(WORKSPACE_TAG);
      if (!ownedBySkiff(tags) || clusterId === undefined || ws === undefined || (workspace !== undefined && ws !== workspace)) continue;
      out.push({ name: r.RoleName, clusterId, workspace: ws });
    }
    Marker = page.IsTruncated ? page.Marker : undefined;
  } while (Marker);
  return out;
}

/** Removes one cluster role found by listClusterAgentRoles (gc). */
export async function deleteAgentRoleNamed(ctx: AwsContext, name: string): Promise<string[]> {
  return deleteRoleAndProfile(ctx, name);
}

/**
 * `skiff network delete`: every cluster role left in the workspace, the workspace-wide role of an older skiff,
 * then the boundary. Idempotent. Returns what went.
 */
export async function deleteAgentRole(ctx: AwsContext, workspace: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const r of await listClusterAgentRoles(ctx, workspace)) deleted.push(...(await deleteRoleAndProfile(ctx, r.name)));
  deleted.push(...(await deleteRoleAndProfile(ctx, agentRoleName(workspace))));
  const boundary = await findBoundary(ctx, workspace);
  if (boundary) {
    await ignoreNotFound(ctx.port.deletePolicy({ PolicyArn: boundary }));
    deleted.push(`policy${AGENT_BOUNDARY_PATH}${agentBoundaryName(workspace)}`);
  }
  return deleted;
}
