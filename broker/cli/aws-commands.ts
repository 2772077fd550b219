// `skiff setup aws`, `skiff policy aws`, `skiff gc`, `skiff network delete`: the account-level aws
// commands. They talk to AWS from this machine with the SDK's usual credentials (environment, profiles,
// SSO); gc asks the broker which clusters are still alive so it never touches theirs.
import { SkiffError } from '../api/errors.js';
import type { ClusterView } from '../api/wire.js';
// The AWS SDK is large: these modules load only when an aws command runs, so `skiff up` stays quick.
const awsBackend = () => import('../../provisioner/aws/aws-backend.js');
const sdkClients = () => import('../../provisioner/aws/sdk-clients.js');
import { DEFAULT_REGION } from '../../provisioner/backend.js';
import { ACTIVE_STATES } from '../store/store.js';
import type { FlagSpec } from './args.js';
import { api, BROKER_FLAG, JSON_FLAG, WORKSPACE_FLAG, workspaceFlag, type CliContext, type Command } from './common.js';

const REGION_FLAG: FlagSpec = { kind: 'string', help: 'AWS region', default: DEFAULT_REGION };

async function awsContext(ctx: CliContext, region: string) {
  const log = ctx.log.child({ component: 'aws' });
  const [{ makeContext }, { createPortCache }] = await Promise.all([awsBackend(), sdkClients()]);
  return makeContext({ portFor: createPortCache(), log }, region, { progress: (m) => ctx.err(`skiff: ${m}\n`) });
}

function onlyArgs(positionals: string[], expected: string[], usage: string): void {
  if (positionals.length !== expected.length || positionals.some((p, i) => p !== expected[i])) {
    throw new SkiffError('CLI_USAGE', `usage: ${usage}`);
  }
}

export const setupCommand: Command = {
  synopsis: 'aws [--region R] [--workspace W] [--broker-vm-type T] [--broker-cidr CIDR] [--no-broker] [--no-wait]',
  about:
    'Check AWS credentials and permissions (EC2 DryRun, nothing created by the checks), create the workspace\'s shared network, log group and agents\' permissions boundary, ' +
    'then deploy the workspace\'s broker: its key, CA, table, bucket, role, security group, Elastic IP and instance, published in SSM for the CLI to find. ' +
    'Idempotent: a rerun creates only what is missing and says when nothing changed.',
  flags: {
    region: REGION_FLAG,
    workspace: WORKSPACE_FLAG,
    'broker-vm-type': { kind: 'string', help: 'the broker instance\'s type', default: 't4g.small' },
    'broker-cidr': { kind: 'string', help: 'who may reach the broker\'s 443 besides the workspace VPC', default: '0.0.0.0/0' },
    'no-broker': { kind: 'boolean', help: 'prepare the network only (for a broker you run yourself: skiff broker --host …)' },
    'no-wait': { kind: 'boolean', help: 'do not wait for the broker to answer' },
    json: JSON_FLAG,
  },
  async run(ctx, positionals, flags) {
    onlyArgs(positionals, ['aws'], 'skiff setup aws [--region R] [--workspace W] [--broker-vm-type T] [--broker-cidr CIDR] [--no-broker] [--no-wait]');
    const region = flags['region'] as string;
    const workspace = workspaceFlag(flags);
    const withBroker = flags['no-broker'] !== true;
    const { setupAws } = await import('../../provisioner/aws/setup.js');
    const aws = await awsContext(ctx, region);
    // Every input of the broker is checked (and the caller known) before setupAws creates anything.
    const deploy = withBroker ? await import('../../provisioner/aws/broker-deploy.js') : undefined;
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const dynamo = new DynamoDBClient({ region, maxAttempts: 3 });
    try {
      return await runSetup(dynamo);
    } finally {
      dynamo.destroy();
    }
    async function runSetup(dynamo: InstanceType<typeof DynamoDBClient>): Promise<number> {
      const deps = (await import('./broker-deploy-deps.js')).brokerDeployDeps(dynamo);
      const prepared = deploy
        ? await deploy.prepareBrokerDeploy(aws, {
          workspace, region, vmType: flags['broker-vm-type'] as string, cidr: flags['broker-cidr'] as string,
          bundle: (await import('../../provisioner/aws/broker-bundle.js')).packBrokerBundle(),
          ...(ctx.config.awsEndpointUrl ? { s3Endpoint: ctx.config.awsEndpointUrl } : {}),
        }, deps)
        : undefined;
      const report = await setupAws(aws, { region, workspace });
      const permitted = report.permissions.every((p) => p.result === 'allowed');
      let broker: Awaited<ReturnType<NonNullable<typeof deploy>['deployBroker']>> | undefined;
      if (deploy && prepared) {
        if (!permitted || typeof report.network === 'string') {
          ctx.err('skiff: the broker was not deployed: ' + (permitted ? 'the workspace has no managed network' : 'permissions are missing (above)') + '\n');
        } else {
          broker = await deploy.deployBroker(aws, prepared, report.network, deps);
          const { rememberDeployedBroker } = await import('./deployed-broker.js');
          rememberDeployedBroker(ctx.home, { workspace, region });
        }
      }
      if (flags['json']) {
        ctx.out(JSON.stringify(broker ? { ...report, broker } : report) + '\n');
      } else {
        ctx.out(`region ${report.region}, zones ${report.zones.join(', ')}\n`);
        for (const p of report.permissions) ctx.out(`  ${p.result === 'allowed' ? 'ok  ' : 'FAIL'} ${p.action}${p.result === 'allowed' ? '' : ` (${p.result})`}\n`);
        ctx.out(`network: ${typeof report.network === 'string' ? report.network : JSON.stringify(report.network)}\nlog group: ${report.logGroup}\n`);
        if (report.agentBoundary) ctx.out(`agents' permissions boundary: ${report.agentBoundary} (each cluster's agents get a role of their own, bounded by it: CloudWatch Logs of this workspace only, writing to their own cluster's streams)\n`);
        if (broker) {
          ctx.out(`broker ${broker.url} (instance ${broker.instanceId}, bundle sha256 ${broker.bundleSha256.slice(0, 12)}…, first admin ${broker.admin})\n`);
          for (const l of broker.resources) ctx.out(`  ${l.outcome.padEnd(7)} ${l.kind} ${l.id}\n`);
          ctx.out(broker.changed ? 'the broker is deployed; skiff up --backend aws finds it\n' : 'nothing changed: every resource of the broker exists as it should\n');
        }
        for (const w of report.warnings) ctx.err(`skiff: warning: ${w}\n`);
      }
      if (broker && flags['no-wait'] !== true) {
        const [{ waitForBroker }, { createPinnedFetch }] = await Promise.all([import('./deployed-broker.js'), import('./pinned-fetch.js')]);
        const pinned = createPinnedFetch({ caPem: broker.caPem, pinnedFrom: `the broker CA published in SSM parameter /skiff/${workspace}/broker (${region})` });
        try {
          // A new instance needs a few minutes: Node, the bundle, the broker's own start.
          const health = await waitForBroker(broker.url, pinned.fetch, 'the workspace\'s broker', { retries: 40, delayMs: 5000, progress: (m) => ctx.err(`skiff: ${m}\n`) });
          ctx.err(`skiff: broker ${broker.url} answers (version ${health.version ?? 'unknown'})\n`);
        } finally {
          pinned.close();
        }
      }
      return permitted && (!withBroker || broker !== undefined) ? 0 : 1;
    }
  },
};

export const teardownCommand: Command = {
  synopsis: 'aws [--region R] [--workspace W]',
  about: 'Remove the workspace\'s broker (instance, Elastic IP, security group, role, record, bucket, table, CA, key) and then its network and agent role, once no cluster machine of the workspace runs.',
  flags: { region: REGION_FLAG, workspace: WORKSPACE_FLAG, json: JSON_FLAG },
  async run(ctx, positionals, flags) {
    onlyArgs(positionals, ['aws'], 'skiff teardown aws [--region R] [--workspace W]');
    const workspace = workspaceFlag(flags);
    const region = flags['region'] as string;
    const { teardownAws } = await import('../../provisioner/aws/broker-teardown.js');
    const { deleted } = await teardownAws(await awsContext(ctx, region), workspace, region);
    const { forgetDeployedBroker, rememberedBroker } = await import('./deployed-broker.js');
    const remembered = rememberedBroker(ctx.home);
    if (remembered?.workspace === workspace && remembered.region === region) forgetDeployedBroker(ctx.home);
    if (flags['json']) ctx.out(JSON.stringify({ deleted }) + '\n');
    else ctx.out(deleted.length === 0 ? `nothing of workspace ${workspace} left in ${region}\n` : deleted.map((d) => `deleted ${d}\n`).join(''));
    return 0;
  },
};

export const policyCommand: Command = {
  synopsis: 'aws setup|ongoing',
  about: 'Print the IAM policy document skiff needs: "setup" (creating the network once) or "ongoing" (running clusters).',
  flags: {},
  async run(ctx, positionals) {
    if (positionals[0] !== 'aws' || positionals.length !== 2 || !['setup', 'ongoing'].includes(positionals[1] ?? '')) {
      throw new SkiffError('CLI_USAGE', 'usage: skiff policy aws setup|ongoing');
    }
    const { ongoingPolicy, setupPolicy } = await import('../../provisioner/aws/policies.js');
    ctx.out(JSON.stringify(positionals[1] === 'setup' ? setupPolicy() : ongoingPolicy(), null, 2) + '\n');
    return 0;
  },
};

export const gcCommand: Command = {
  synopsis: '[--region R] [--workspace W] [--yes]',
  about: 'List every skiff-tagged AWS resource of the workspace (instances, launch templates, security groups) that no live cluster owns; with --yes, remove them.',
  flags: { region: REGION_FLAG, workspace: WORKSPACE_FLAG, yes: { kind: 'boolean', help: 'remove what is listed' }, json: JSON_FLAG, 'broker-url': BROKER_FLAG },
  async run(ctx, positionals, flags) {
    onlyArgs(positionals, [], 'skiff gc [--region R] [--workspace W] [--yes]');
    const workspace = workspaceFlag(flags);
    const clusters = await (await api(ctx, flags, true)).call<ClusterView[]>('GET', '/v1/clusters');
    const liveClusterIds = clusters.filter((c) => ACTIVE_STATES.includes(c.state)).map((c) => c.id);
    const confirm = flags['yes'] === true;
    const { collectGarbage } = await import('../../provisioner/aws/gc.js');
    const items = await collectGarbage(await awsContext(ctx, flags['region'] as string), { workspace, liveClusterIds, confirm });
    if (flags['json']) ctx.out(JSON.stringify(items) + '\n');
    else if (items.length === 0) ctx.out('nothing to collect\n');
    else {
      for (const i of items) ctx.out(`${confirm ? 'removed' : 'orphaned'} ${i.kind} ${i.id} (cluster ${i.clusterId})\n`);
      if (!confirm) ctx.out('run again with --yes to remove them\n');
    }
    return 0;
  },
};

export const networkCommand: Command = {
  synopsis: 'delete [--region R] [--workspace W]',
  about: 'Remove the workspace\'s shared network and agent role skiff made in the region (refused while a cluster of the workspace still runs there).',
  flags: { region: REGION_FLAG, workspace: WORKSPACE_FLAG },
  async run(ctx, positionals, flags) {
    onlyArgs(positionals, ['delete'], 'skiff network delete [--region R] [--workspace W]');
    const workspace = workspaceFlag(flags);
    const { deleteNetwork } = await import('../../provisioner/aws/network-delete.js');
    const { deleted } = await deleteNetwork(await awsContext(ctx, flags['region'] as string), workspace);
    ctx.out(deleted.length === 0 ? `no skiff network of workspace ${workspace} in this region\n` : deleted.map((d) => `deleted ${d}\n`).join(''));
    return 0;
  },
};
