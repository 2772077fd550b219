// `skiff setup aws` deploys the workspace's broker (issue 19): two phases, so nothing exists before every input
// is known good.
//
//   prepareBrokerDeploy  (reads only)  request checks → STS: who runs setup (the first admin) → instance type
//                                     offered, its architecture → that architecture's Debian 12 image → bundle
//   [setupAws: network, log group, agents' role]
//   deployBroker         (find or create, in order)
//     KMS key+alias → broker CA secret → table (+ point-in-time recovery) → admin grant → bucket → bundle object
//     → broker role+profile → security group → Elastic IP → instance (user-data: bundle URL + SHA-256, no secret)
//     → Elastic IP on the instance → SSM record (URL https://EIP, CA, broker id, table, key, version)
//
// Every step finds its resource first, so a rerun after a failure anywhere continues where it stopped, and a rerun
// with nothing new creates nothing (every line of the report says `exists`). A failure names what exists.
import { SkiffError, isSkiffError } from '../../broker/api/errors.js';
import type { DeployedBrokerParameter } from '../../broker/api/deployed-broker.js';
import { accountOfArn, brokerNames, brokerRolePolicy, checkBrokerRequest, type BrokerNames, type BrokerRequest } from '../plan/broker-plan.js';
import { buildBrokerUserData } from '../plan/broker-user-data.js';
import { defaultImageQuery, newestImage, type ResolvedImage } from '../plan/images.js';
import type { Architecture } from '../plan/instance-types.js';
import { baseTags, type Tags } from '../plan/tags.js';
import type { NodeRuntime } from '../plan/user-data.js';
import type { AwsContext } from './context.js';
import type { NetworkIds } from './network-apply.js';
import { ongoingPolicy } from './policies.js';
import { describeTypes } from './preflight.js';
import { ensureBrokerRole } from './broker-role.js';
import { ensureBucket, ensureBundle } from './broker-bucket.js';
import type { BrokerBundle } from './broker-bundle.js';
import { attachAddress, ensureBrokerAddress, ensureBrokerGroup, findBrokerInstance, launchBrokerInstance } from './broker-instance.js';
import type { Outcome, ResourceLine } from './broker-outcome.js';
import { ensureBrokerCa, ensureWorkspaceKey, publishRecord, readRecord } from './broker-secrets.js';

export interface BrokerDeployInput extends BrokerRequest {
  /** The user's own tags (the `tags` option), beside skiff's. */
  tags?: Tags;
  bundle: BrokerBundle;
  node?: NodeRuntime;
  /** An emulator's S3 endpoint (tests): the bundle's URL is path-style there. Default: S3 of the region. */
  s3Endpoint?: string;
}

export interface PreparedBrokerDeploy {
  request: BrokerRequest;
  names: BrokerNames;
  base: Tags;
  /** The principal that runs setup, as a grant names it (an assumed-role session as its role). */
  admin: { arn: string; id: string };
  image: ResolvedImage;
  bundle: BrokerBundle;
  node?: NodeRuntime;
  s3Endpoint?: string;
}

export interface BrokerDeployReport {
  url: string;
  publicIp: string;
  instanceId: string;
  brokerId: string;
  /** The broker CA certificate (public) the CLI pins. */
  caPem: string;
  bundleSha256: string;
  admin: string;
  resources: ResourceLine[];
  /** False when every resource existed as it should: the run changed nothing. */
  changed: boolean;
}

function architectureOf(value: string | undefined, type: string): Architecture {
  if (value === 'arm64' || value === 'x86_64') return value;
  throw new SkiffError('PRV_INVALID_REQUEST', `--broker-vm-type ${type} is ${value ?? 'of no known architecture'}; the broker runs on arm64 or x86_64`);
}

/**
 * What the broker owns and the provisioner does not know: how a caller's ARN becomes a grant's principal, the CA,
 * the store's table and its grants. The CLI passes the broker's own code (broker/cli/broker-deploy-deps.ts).
 */
export interface BrokerDeployDeps {
  /** The principal a grant names for an ARN STS gave (an assumed-role session as its role); throws for an unknown kind. */
  principalId(arn: string): string;
  createCa(workspace: string): Promise<{ certPem: string; keyPem: string }>;
  /** Makes the store's table (on-demand, point-in-time recovery on) when missing. */
  ensureStore(table: string): Promise<Outcome>;
  /** Stores an admin grant of exactly `principalId` unless there is one. */
  ensureAdminGrant(table: string, principalId: string): Promise<Outcome>;
}

/** Everything that can be checked before anything exists. Reads only. */
export async function prepareBrokerDeploy(ctx: AwsContext, input: BrokerDeployInput, deps: Pick<BrokerDeployDeps, 'principalId'>): Promise<PreparedBrokerDeploy> {
  const request = checkBrokerRequest(input);
  const caller = await ctx.port.getCallerIdentity({});
  const arn = caller.Arn ?? '';
  const { account, partition } = accountOfArn(arn);
  let id: string;
  try {
    id = deps.principalId(arn);
  } catch (err) {
    throw new SkiffError('PRV_INVALID_REQUEST', `setup runs as ${arn}, which cannot be the broker's first admin (${(err as Error).message}); run it as an IAM user or role`, { cause: err });
  }
  const facts = await describeTypes(ctx, request.region, [request.vmType]);
  const architecture = architectureOf(facts[request.vmType]?.architecture, request.vmType);
  const q = defaultImageQuery(architecture, false);
  const images = await ctx.port.describeImages({
    Owners: q.owners,
    Filters: [{ Name: 'name', Values: [q.namePattern] }, { Name: 'architecture', Values: [architecture] }, { Name: 'state', Values: ['available'] }],
  });
  const newest = newestImage(images.Images ?? []);
  if (!newest?.ImageId) throw new SkiffError('PRV_INVALID_REQUEST', `no image found in ${request.region} for ${q.description}, which the broker boots`);
  const names = brokerNames(request.workspace, request.region, account, partition);
  const prepared: PreparedBrokerDeploy = {
    request, names, base: baseTags(request.workspace, input.tags ?? {}), admin: { arn, id },
    image: { imageId: newest.ImageId, architecture, name: newest.Name ?? q.description }, bundle: input.bundle,
    ...(input.node ? { node: input.node } : {}), ...(input.s3Endpoint ? { s3Endpoint: input.s3Endpoint } : {}),
  };
  // The user-data must build (URL, names, size) before anything exists.
  buildBrokerUserData(userDataInput(prepared, 'broker/check'));
  return prepared;
}

function bundleUrl(p: PreparedBrokerDeploy, key: string): string {
  return p.s3Endpoint ? `${p.s3Endpoint.replace(/\/+$/, '')}/${p.names.bucket}/${key}` : `https://${p.names.bucket}.s3.${p.request.region}.amazonaws.com/${key}`;
}

function userDataInput(p: PreparedBrokerDeploy, key: string) {
  return { workspace: p.request.workspace, region: p.request.region, bundleUrl: bundleUrl(p, key), bundleSha256: p.bundle.sha256, ...(p.node ? { node: p.node } : {}) };
}

/** Finds or creates each resource in order; see the sketch at the top. */
export async function deployBroker(ctx: AwsContext, p: PreparedBrokerDeploy, network: NetworkIds, deps: BrokerDeployDeps): Promise<BrokerDeployReport> {
  const { names: n, base, request } = p;
  const lines: ResourceLine[] = [];
  const note = (kind: string, id: string, outcome: Outcome) => {
    lines.push({ kind, id, outcome });
  };
  const zone = Object.keys(network.subnets).sort()[0];
  const subnetId = zone === undefined ? undefined : network.subnets[zone]?.public;
  if (!subnetId) throw new SkiffError('PRV_CLOUD_ERROR', `the workspace network ${network.vpcId} has no public subnet for the broker`);
  try {
    const key = await ensureWorkspaceKey(ctx, n, base);
    note('kms-key', `${key.keyId} (${n.kmsAlias})`, key.outcome);
    const current = await readRecord(ctx, n);
    const ca = await ensureBrokerCa(ctx, n, base, current?.record, () => deps.createCa(request.workspace));
    note('secret', n.caSecret, ca.outcome);

    note('dynamodb-table', n.table, await deps.ensureStore(n.table));
    note('admin-grant', p.admin.id, await deps.ensureAdminGrant(n.table, p.admin.id));

    note('s3-bucket', n.bucket, await ensureBucket(ctx, n, request.region, base));
    const object = await ensureBundle(ctx, n, p.bundle);
    note('s3-object', `s3://${n.bucket}/${object.key} (sha256 ${p.bundle.sha256})`, object.outcome);

    const policy = brokerRolePolicy(n, request.region, key.arn, ongoingPolicy().Statement);
    const role = await ensureBrokerRole(ctx, n.role, policy, base);
    note('iam-role', n.role, role.role);
    note('instance-profile', n.role, role.profile);

    const group = await ensureBrokerGroup(ctx, { workspace: request.workspace, base, vpcId: network.vpcId, name: n.securityGroup, cidr: request.cidr });
    note('security-group', `${group.groupId} (443 from ${request.cidr} and the VPC)`, group.outcome);
    const address = await ensureBrokerAddress(ctx, { workspace: request.workspace, base });
    note('elastic-ip', `${address.allocationId} (${address.publicIp})`, address.outcome);

    let instanceId = (await findBrokerInstance(ctx, base))?.InstanceId;
    if (instanceId) {
      note('instance', instanceId, 'exists');
    } else {
      instanceId = await launchBrokerInstance(ctx, {
        workspace: request.workspace, base, imageId: p.image.imageId, vmType: request.vmType, subnetId, groupId: group.groupId, profile: n.role,
        userData: buildBrokerUserData(userDataInput(p, object.key)),
      });
      note('instance', `${instanceId} (${request.vmType}, ${p.image.name})`, 'created');
    }
    note('elastic-ip-association', `${address.publicIp} → ${instanceId}`, await attachAddress(ctx, instanceId, address));

    const url = `https://${address.publicIp}`;
    const record: DeployedBrokerParameter = {
      url, caPem: ca.caPem, brokerId: n.brokerId, region: request.region, table: n.table, kmsKeyId: n.kmsAlias, version: p.bundle.version,
    };
    note('ssm-parameter', `${n.parameter} (${url})`, await publishRecord(ctx, n, base, record, current));
    return {
      url, publicIp: address.publicIp, instanceId, brokerId: n.brokerId, caPem: ca.caPem, bundleSha256: p.bundle.sha256, admin: p.admin.id,
      resources: lines, changed: lines.some((l) => l.outcome !== 'exists'),
    };
  } catch (err) {
    const made = lines.map((l) => `${l.kind} ${l.id}`).join(', ');
    const what = err instanceof Error ? err.message : String(err);
    throw new SkiffError(isSkiffError(err) ? err.code : 'PRV_CLOUD_ERROR',
      `deploying the broker of workspace ${request.workspace} stopped: ${what}. ` +
      `${made ? `These exist now: ${made}.` : 'Nothing of the broker exists yet.'} Run skiff setup aws again to continue from there`,
      { cause: err, retryable: isSkiffError(err) ? err.retryable : false });
  }
}
