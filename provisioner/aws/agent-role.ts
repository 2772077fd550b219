// The agents' role and instance profile (see plan/agent-role.ts), a workspace-level resource like the shared
// network: `skiff setup aws` and the first `skiff up` create it, `skiff down` and a failed apply keep it,
// `skiff network delete` removes it. IAM is global, so one role serves the workspace in every region.
//
// Creation order makes a half-done run safe to resume: role → inline policy → profile → role in profile.
// A profile that holds the role therefore implies a role that has its policy, which is all `skiff up` checks
// (one GetInstanceProfile, an "ongoing" permission) before it names the profile in the launch template.

import type { InstanceProfile, Tag } from '@aws-sdk/client-iam';
import { SkiffError } from '../../broker/api/errors.js';
import { AGENT_POLICY_NAME, agentLogsPolicy, agentRoleName, agentTrustPolicy } from '../plan/agent-role.js';
import { OWNER_TAG, OWNER_VALUE, type Tags } from '../plan/tags.js';
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

/** Creates what is missing of the workspace's role and profile and (re)writes the inline policy. Returns the profile name. */
export async function ensureAgentRole(ctx: AwsContext, workspace: string, tags: Tags): Promise<string> {
  const name = agentRoleName(workspace);
  const { port } = ctx;
  let role;
  try {
    role = (await port.getRole({ RoleName: name })).Role;
  } catch (err) {
    if (!isCode(err, NOT_FOUND)) throw err;
  }
  if (role && !ownedBySkiff(role.Tags)) throw notOurs('role', name);
  if (!role) {
    try {
      await port.createRole({
        RoleName: name,
        AssumeRolePolicyDocument: agentTrustPolicy(),
        Description: `skiff agents of workspace ${workspace}: write to their CloudWatch log group`,
        Tags: iamTags(tags),
      });
    } catch (err) {
      if (!isCode(err, EXISTS)) throw err;
    }
  }
  // Always written: a newer skiff may have changed the document; PutRolePolicy replaces it in place.
  await port.putRolePolicy({ RoleName: name, PolicyName: AGENT_POLICY_NAME, PolicyDocument: agentLogsPolicy(workspace) });

  const profile = await getProfile(ctx, name);
  if (profile && !ownedBySkiff(profile.Tags)) throw notOurs('instance profile', name);
  if (!profile) {
    try {
      await port.createInstanceProfile({ InstanceProfileName: name, Tags: iamTags(tags) });
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
  ctx.progress(`agent role and instance profile ${name} ready`);
  return name;
}

/**
 * For `skiff up`: the profile name to put in the launch template. Only reads when setup (or an earlier up)
 * made it; creates it otherwise, which needs the "setup" permissions: a denial says so.
 */
export async function agentProfileForLaunch(ctx: AwsContext, workspace: string, tags: Tags): Promise<string> {
  const name = agentRoleName(workspace);
  if (holdsRole(await getProfile(ctx, name), name)) return name;
  try {
    return await ensureAgentRole(ctx, workspace, tags);
  } catch (err) {
    if (!isCode(err, DENIED)) throw err;
    throw new SkiffError(
      'PRV_CLOUD_ERROR',
      `the agents' instance profile ${name} does not exist and these credentials may not create it (${awsErrorCode(err) ?? 'denied'}); ` +
        'run skiff setup aws once with the "setup" policy attached, or give the instance_profile option',
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

/** Removes the workspace's profile and role if skiff made them (tagged owner=skiff). Idempotent. Returns what went. */
export async function deleteAgentRole(ctx: AwsContext, workspace: string): Promise<string[]> {
  const name = agentRoleName(workspace);
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
  let role;
  try {
    role = (await port.getRole({ RoleName: name })).Role;
  } catch (err) {
    if (!isCode(err, NOT_FOUND)) throw err;
  }
  if (role && ownedBySkiff(role.Tags)) {
    await ignoreNotFound(port.deleteRolePolicy({ RoleName: name, PolicyName: AGENT_POLICY_NAME }));
    await ignoreNotFound(port.deleteRole({ RoleName: name }));
    deleted.push(`role/${name}`);
  }
  return deleted;
}
