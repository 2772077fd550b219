// `skiff teardown aws`: the workspace's broker goes, then its network (network-delete.ts). Refused while any
// cluster machine of the workspace is live: the broker is what stops them. Order: instance (terminated, waited
// for) → Elastic IP → security group → role and profile → SSM record → bucket (emptied) → table → CA secret
// (deleted without a recovery window: a rerun of setup makes a new CA under the same name) → KMS alias, and the key
// scheduled for deletion (KMS's shortest window, 7 days). Idempotent: a second run finds nothing and says so.
import { SkiffError } from '../../broker/api/errors.js';
import { accountOfArn, brokerNames, BROKER_ROLE_TAG_VALUE } from '../plan/broker-plan.js';
import { baseTags, ROLE_TAG } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import { fromAwsTags, tagFilters, type AwsContext } from './context.js';
import { LIVE_STATES, listInstances, terminateAndWait } from './instances.js';
import { deleteBrokerRole } from './broker-role.js';
import { deleteBucket } from './broker-bucket.js';
import { deleteNetwork } from './network-delete.js';

const SG_DELETE_ATTEMPTS = 10;
const KEY_DELETION_DAYS = 7;

async function gone(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (/NotFound|NoSuchEntity|InvalidAllocationID|InvalidGroup/.test(awsErrorCode(err) ?? '')) return false;
    throw err;
  }
}

/** Removes the broker's resources of the workspace in this region. Returns what went. */
export async function deleteBroker(ctx: AwsContext, workspace: string, region: string): Promise<string[]> {
  const { port } = ctx;
  const { account, partition } = accountOfArn((await port.getCallerIdentity({})).Arn ?? '');
  const n = brokerNames(workspace, region, account, partition);
  const base = baseTags(workspace, {});
  const deleted: string[] = [];
  const live = await listInstances(ctx, [...tagFilters(base), { Name: 'instance-state-name', Values: LIVE_STATES }]);
  const clusters = live.filter((i) => fromAwsTags(i.Tags)[ROLE_TAG] !== BROKER_ROLE_TAG_VALUE);
  if (clusters.length > 0) {
    const names = [...new Set(clusters.map((i) => fromAwsTags(i.Tags)['skiff:cluster'] ?? i.InstanceId ?? '?'))];
    throw new SkiffError('PRV_INVALID_REQUEST', `workspace ${workspace} still has ${clusters.length} live cluster machine(s) (${names.join(', ')}); run skiff down for each (the broker stops them) before teardown`);
  }
  const brokerFilter = tagFilters({ ...base, [ROLE_TAG]: BROKER_ROLE_TAG_VALUE });
  const brokers = live.filter((i) => fromAwsTags(i.Tags)[ROLE_TAG] === BROKER_ROLE_TAG_VALUE).map((i) => i.InstanceId ?? '').filter(Boolean);
  await terminateAndWait(ctx, brokers, brokerFilter);
  deleted.push(...brokers.map((id) => `instance ${id}`));
  for (const a of (await port.describeAddresses({ Filters: brokerFilter })).Addresses ?? []) {
    if (a.AllocationId && (await gone(port.releaseAddress({ AllocationId: a.AllocationId })))) deleted.push(`elastic-ip ${a.AllocationId} (${a.PublicIp ?? ''})`);
  }
  for (const g of (await port.describeSecurityGroups({ Filters: brokerFilter })).SecurityGroups ?? []) {
    if (g.GroupId && (await deleteGroup(ctx, g.GroupId))) deleted.push(`security-group ${g.GroupId}`);
  }
  deleted.push(...(await deleteBrokerRole(ctx, n.role)));
  if (await gone(port.deleteParameter({ Name: n.parameter }))) deleted.push(`ssm-parameter ${n.parameter}`);
  if (await deleteBucket(ctx, n)) deleted.push(`s3-bucket ${n.bucket}`);
  if (await gone(port.deleteTable({ TableName: n.table }))) deleted.push(`dynamodb-table ${n.table}`);
  if (await gone(port.describeSecret({ SecretId: n.caSecret }).then(() => port.deleteSecret({ SecretId: n.caSecret, ForceDeleteWithoutRecovery: true })))) {
    deleted.push(`secret ${n.caSecret}`);
  }
  let keyId: string | undefined;
  try {
    const k = (await port.describeKey({ KeyId: n.kmsAlias })).KeyMetadata;
    keyId = k?.KeyState === 'PendingDeletion' ? undefined : k?.KeyId;
  } catch (err) {
    if (!/NotFound/.test(awsErrorCode(err) ?? '')) throw err;
  }
  if (await gone(port.deleteAlias({ AliasName: n.kmsAlias }))) deleted.push(`kms-alias ${n.kmsAlias}`);
  if (keyId) {
    await port.scheduleKeyDeletion({ KeyId: keyId, PendingWindowInDays: KEY_DELETION_DAYS });
    deleted.push(`kms-key ${keyId} (deleted in ${KEY_DELETION_DAYS} days)`);
  }
  return deleted;
}

async function deleteGroup(ctx: AwsContext, groupId: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.port.deleteSecurityGroup({ GroupId: groupId });
      return true;
    } catch (err) {
      const code = awsErrorCode(err);
      if (code === 'InvalidGroup.NotFound') return false;
      if (code !== 'DependencyViolation' || attempt >= SG_DELETE_ATTEMPTS) throw err;
      await ctx.sleep(ctx.pollIntervalMs * attempt);
    }
  }
}

/** The broker, then the network and the agents' role. */
export async function teardownAws(ctx: AwsContext, workspace: string, region: string): Promise<{ deleted: string[] }> {
  const broker = await deleteBroker(ctx, workspace, region);
  if (broker.length > 0) ctx.progress(`deleted ${broker.length} broker resource(s) of workspace ${workspace}`);
  const network = await deleteNetwork(ctx, workspace);
  return { deleted: [...broker, ...network.deleted] };
}
