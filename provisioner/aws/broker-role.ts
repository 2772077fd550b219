// The broker instance's IAM role and instance profile `skiff-broker-<workspace>` (plan/broker-plan.ts), made as the
// agents' are (agent-role.ts): role → inline policy → profile → role in profile, so a half-done run resumes. The
// policy is read back and rewritten only when it differs, so a rerun with nothing new changes nothing.
import type { InstanceProfile, Tag } from '@aws-sdk/client-iam';
import { SkiffError } from '../../broker/api/errors.js';
import { BROKER_POLICY_NAME, brokerTrustPolicy } from '../plan/broker-plan.js';
import { OWNER_TAG, OWNER_VALUE, type Tags } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';
import type { Outcome } from './broker-outcome.js';

const isCode = (err: unknown, re: RegExp): boolean => re.test(awsErrorCode(err) ?? '');
const NOT_FOUND = /^NoSuchEntity/;
const owned = (tags: Tag[] | undefined): boolean => (tags ?? []).some((t) => t.Key === OWNER_TAG && t.Value === OWNER_VALUE);

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isCode(err, NOT_FOUND)) return undefined;
    throw err;
  }
}

function notOurs(kind: string, name: string): SkiffError {
  return new SkiffError('PRV_INVALID_REQUEST', `an IAM ${kind} named ${name} exists but is not tagged owner=skiff, so skiff will not change it; delete or rename it`);
}

const sameDocument = (a: string, b: string): boolean => {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
};

/** Creates what is missing; returns what it did to the role (its policy included) and to the profile. */
export async function ensureBrokerRole(ctx: AwsContext, name: string, policy: string, tags: Tags): Promise<{ role: Outcome; profile: Outcome }> {
  const { port } = ctx;
  const iamTags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  let role: Outcome = 'exists';
  const found = (await orUndefined(port.getRole({ RoleName: name })))?.Role;
  if (found && !owned(found.Tags)) throw notOurs('role', name);
  if (!found) {
    await port.createRole({ RoleName: name, AssumeRolePolicyDocument: brokerTrustPolicy(), Description: 'skiff broker instance: provisions and watches the workspace\'s clusters', Tags: iamTags });
    role = 'created';
  }
  const current = (await orUndefined(port.getRolePolicy({ RoleName: name, PolicyName: BROKER_POLICY_NAME })))?.PolicyDocument;
  if (current === undefined || !sameDocument(decodeURIComponent(current), policy)) {
    await port.putRolePolicy({ RoleName: name, PolicyName: BROKER_POLICY_NAME, PolicyDocument: policy });
    if (role === 'exists') role = 'updated';
  }
  let profile: Outcome = 'exists';
  let p: InstanceProfile | undefined = (await orUndefined(port.getInstanceProfile({ InstanceProfileName: name })))?.InstanceProfile;
  if (p && !owned(p.Tags)) throw notOurs('instance profile', name);
  if (!p) {
    p = (await port.createInstanceProfile({ InstanceProfileName: name, Tags: iamTags })).InstanceProfile;
    profile = 'created';
  }
  if (!(p?.Roles ?? []).some((r) => r.RoleName === name)) {
    await port.addRoleToInstanceProfile({ InstanceProfileName: name, RoleName: name });
    if (profile === 'exists') profile = 'updated';
  }
  return { role, profile };
}

/** Removes the profile and role if skiff made them. Idempotent; returns what went. */
export async function deleteBrokerRole(ctx: AwsContext, name: string): Promise<string[]> {
  const { port } = ctx;
  const gone: string[] = [];
  const p = (await orUndefined(port.getInstanceProfile({ InstanceProfileName: name })))?.InstanceProfile;
  if (p && owned(p.Tags)) {
    for (const r of p.Roles ?? []) if (r.RoleName) await orUndefined(port.removeRoleFromInstanceProfile({ InstanceProfileName: name, RoleName: r.RoleName }));
    await orUndefined(port.deleteInstanceProfile({ InstanceProfileName: name }));
    gone.push(`instance-profile/${name}`);
  }
  const role = (await orUndefined(port.getRole({ RoleName: name })))?.Role;
  if (role && owned(role.Tags)) {
    await orUndefined(port.deleteRolePolicy({ RoleName: name, PolicyName: BROKER_POLICY_NAME }));
    await orUndefined(port.deleteRole({ RoleName: name }));
    gone.push(`role/${name}`);
  }
  return gone;
}
