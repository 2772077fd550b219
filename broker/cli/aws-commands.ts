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
  synopsis: 'aws [--region R] [--workspace W]',
  about: 'Check AWS credentials and permissions (EC2 DryRun, nothing created by the checks), then create the workspace\'s shared network, log group and agent role ahead of time.',
  flags: { region: REGION_FLAG, workspace: WORKSPACE_FLAG, json: JSON_FLAG },
  async run(ctx, positionals, flags) {
    onlyArgs(positionals, ['aws'], 'skiff setup aws [--region R] [--workspace W]');
    const region = flags['region'] as string;
    const workspace = workspaceFlag(flags);
    const { setupAws } = await import('../../provisioner/aws/setup.js');
    const report = await setupAws(await awsContext(ctx, region), { region, workspace });
    if (flags['json']) {
      ctx.out(JSON.stringify(report) + '\n');
    } else {
      ctx.out(`region ${report.region}, zones ${report.zones.join(', ')}\n`);
      for (const p of report.permissions) ctx.out(`  ${p.result === 'allowed' ? 'ok  ' : 'FAIL'} ${p.action}${p.result === 'allowed' ? '' : ` (${p.result})`}\n`);
      ctx.out(`network: ${typeof report.network === 'string' ? report.network : JSON.stringify(report.network)}\nlog group: ${report.logGroup}\n`);
      if (report.agentBoundary) ctx.out(`agents' permissions boundary: ${report.agentBoundary} (each cluster's agents get a role of their own, bounded by it: CloudWatch Logs of this workspace only, writing to their own cluster's streams)\n`);
      for (const w of report.warnings) ctx.err(`skiff: warning: ${w}\n`);
    }
    return report.permissions.every((p) => p.result === 'allowed') ? 0 : 1;
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
