#!/usr/bin/env node
// `skiff`: the user's face of the broker. Exit codes: 0 ok, 1 the operation failed, 2 bad usage.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { terminalSafe } from './terminal-text.js';
import { pino } from 'pino';
import { ERROR_TABLE, SkiffError, isSkiffError } from '../api/errors.js';
import { makeHomePrivate, privateUmask, skiffPaths, type BrokerInfo } from '../home.js';
import { loadCliConfig, type CliConfig } from './config.js';
import { parseArgs, helpFor, type FlagSpec } from './args.js';
import { COMMANDS, runCommand, type CliContext } from './commands.js';
import type { AwsIamSettings } from '../auth/broker-auth.js';
import { workspaceFlag } from './common.js';
import { DEFAULT_WORKSPACE } from '../api/limits.js';
import { DEFAULT_REGION, processAlive } from '../../provisioner/backend.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const TOP_HELP = `skiff ${VERSION}: a secure Dask cluster in one command (on this machine, or in your own AWS account)

usage: skiff <command> [options]

commands:
  up            create a cluster and wait until it is ready; prints how to connect
  list          list clusters
  status        show one cluster (and a fresh dashboard URL)
  down          stop a cluster
  credentials   get a client certificate for a cluster (key made locally)
  dashboard     open a cluster's dashboard through a local proxy that verifies its CA
  notifications state changes, watchdog stops and alerts (--follow to keep watching)
  logs          a cluster's log lines (Dask, agents, boot), also after it stopped
  broker        run the control plane in the foreground (\`skiff broker stop\` stops the local one)
  access        who may use an aws-iam broker: \`access grant ARN|PATTERN [--admin]\`, \`access revoke\`, \`access list\`

aws:
  setup aws     check credentials and permissions, create the shared network and log group, deploy the broker
  teardown aws  remove the workspace's broker, then its network (once no cluster runs)
  policy aws    print the IAM policy documents (setup | ongoing)
  gc            list (and with --yes remove) skiff resources no live cluster owns
  network       \`network delete\` removes the shared network

State lives under $SKIFF_HOME (default ~/.skiff). \`skiff <command> --help\` tells more.
`;

const BROKER_FLAGS: Record<string, FlagSpec> = {
  host: { kind: 'string', help: 'interface to listen on (default 127.0.0.1; --deployed: 0.0.0.0)' },
  port: { kind: 'int', help: 'port (default 0: the last one used, else any free port; --deployed: 443)' },
  'public-url': { kind: 'string', help: 'URL machines use to reach this broker (default: the one it listens on)' },
  'webhook-url': { kind: 'string', help: 'POST every cluster\'s notifications here (Slack-compatible JSON)' },
  'tls-cert': { kind: 'string', help: 'serve HTTPS with this certificate (PEM file; with --tls-key)' },
  'tls-key': { kind: 'string', help: 'private key of --tls-cert (PEM file)' },
  'tls-ca': { kind: 'string', help: 'CA certificate --tls-cert chains to, pinned on the machines (PEM; default: --tls-cert itself when self-signed, else the system\'s CAs)' },
  deployed: { kind: 'boolean', help: 'run as the workspace\'s deployed broker: its record (SSM /skiff/W/broker), CA (Secrets Manager) and keys sealed with KMS, as `skiff setup aws` made them' },
  workspace: { kind: 'string', help: 'with --deployed: the workspace', default: DEFAULT_WORKSPACE },
  region: { kind: 'string', help: 'with --deployed: its region (default $AWS_REGION, else us-east-1)' },
  background: { kind: 'boolean', help: 'started by the CLI on demand (logs go to $SKIFF_HOME/broker/broker.log)' },
  auth: { kind: 'string', help: 'api-key: one API key under $SKIFF_HOME, one person\'s; aws-iam: each person signs in as their IAM identity (with --broker-id, --admin)', default: 'api-key' },
  'broker-id': { kind: 'string', help: 'with --auth aws-iam: this broker\'s name, covered by every sign-in\'s signature (a sign-in for one broker is refused by another)' },
  admin: { kind: 'string', help: 'with --auth aws-iam: the ARN of the first admin (stored as a grant when the broker has none yet)' },
  account: { kind: 'string', help: 'with --auth aws-iam: the AWS account served (default: the account of --admin or of the stored grants)' },
  store: { kind: 'string', help: 'dynamodb:TABLE: keep the state in this DynamoDB table (made if missing: on-demand, point-in-time recovery), which brokers started with it share; one leads (default: the journal under $SKIFF_HOME)' },
};

async function brokerCommand(ctx: CliContext, argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    ctx.out(helpFor('broker', '[stop] [--host H] [--port N] | --deployed --workspace W --region R', 'Run the skiff control plane in the foreground until SIGTERM/SIGINT; `skiff broker stop` stops the local one.', BROKER_FLAGS));
    return 0;
  }
  const { positionals, flags } = parseArgs(argv, BROKER_FLAGS, 'broker');
  if (positionals[0] === 'stop') return stopBroker(ctx);
  if (positionals.length > 0) throw new SkiffError('CLI_USAGE', `unknown broker subcommand "${positionals[0]}"; try \`skiff broker stop\``);
  if (flags['deployed']) return deployedBrokerCommand(ctx, flags);
  if (argv.some((a) => /^--(workspace|region)(=|$)/.test(a))) throw new SkiffError('CLI_USAGE', '--workspace and --region go with --deployed');
  const certFile = flags['tls-cert'] as string | undefined;
  const keyFile = flags['tls-key'] as string | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new SkiffError('CLI_USAGE', '--tls-cert and --tls-key go together');
  let tls: { certPem: string; keyPem: string; caPem?: string } | undefined;
  const caFile = flags['tls-ca'] as string | undefined;
  if (caFile !== undefined && certFile === undefined) throw new SkiffError('CLI_USAGE', '--tls-ca goes with --tls-cert and --tls-key');
  try {
    if (certFile && keyFile) tls = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), ...(caFile ? { caPem: readFileSync(caFile, 'utf8') } : {}) };
  } catch (err) {
    throw new SkiffError('CLI_USAGE', `cannot read the broker's TLS files: ${(err as Error).message}`);
  }
  const auth = brokerAuthFlags(flags, ctx.config);
  const host = (flags['host'] as string | undefined) ?? '127.0.0.1';
  if (auth && !tls && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
    throw new SkiffError('CLI_USAGE', `--auth aws-iam on ${host} needs HTTPS (--tls-cert and --tls-key): sign-ins and user tokens would cross the network in clear`);
  }
  const storeFlag = flags['store'] as string | undefined;
  const table = storeFlag === undefined ? undefined : /^dynamodb:([A-Za-z0-9_.-]{3,255})$/.exec(storeFlag)?.[1];
  if (storeFlag !== undefined && table === undefined) throw new SkiffError('CLI_USAGE', `--store ${JSON.stringify(storeFlag)}: use dynamodb:TABLE (3 to 255 of A-Z a-z 0-9 _ . -)`);
  // The broker loads every backend (and the AWS SDK): only `skiff broker` pays for that.
  const { startBroker } = await import('../broker.js');
  const shared = table === undefined ? undefined : await openSharedStore(table, ctx);
  const broker = await startBroker({
    ...(shared ? { store: shared, sharedStore: true } : {}),
    ...(ctx.config.leaseTtlMs !== undefined ? { leaseTtlMs: ctx.config.leaseTtlMs } : {}),
    home: ctx.home,
    host,
    port: (flags['port'] as number | undefined) ?? 0,
    ...commonBrokerOptions(ctx),
    ...(typeof flags['public-url'] === 'string' ? { publicUrl: flags['public-url'] } : {}),
    ...(tls ? { tls } : {}),
    ...(auth ? { auth } : {}),
    ...(typeof flags['webhook-url'] === 'string' ? { webhookUrl: flags['webhook-url'] } : ctx.config.webhookUrl ? { webhookUrl: ctx.config.webhookUrl } : {}),
  });
  if (!flags['background']) ctx.err(`skiff: broker listening on ${broker.url} (home ${ctx.home}); Ctrl-C stops it\n`);
  return runUntilSignal(ctx, broker);
}

/** The DynamoDB table of --store, made if missing, with the SDK's credential chain and region. */
async function openSharedStore(table: string, ctx: CliContext) {
  const [{ DynamoDBClient }, { ensureStoreTable, openDynamoStore }] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('../store/dynamo-store.js')]);
  const client = new DynamoDBClient({ region: ctx.config.awsRegion ?? DEFAULT_REGION, ...(ctx.config.awsEndpointUrl ? { endpoint: ctx.config.awsEndpointUrl } : {}) });
  const { created } = await ensureStoreTable(client, table);
  if (created) ctx.err(`skiff: made DynamoDB table ${table} for the broker's state\n`);
  return openDynamoStore({ table, client });
}

/** What every broker takes from the CLI's environment. */
function commonBrokerOptions(ctx: CliContext) {
  return {
    python: ctx.config.python,
    log: ctx.log,
    version: VERSION,
    ...(ctx.config.watchdogIntervalMs !== undefined ? { watchdogIntervalMs: ctx.config.watchdogIntervalMs } : {}),
    ...(ctx.config.scaleIntervalMs !== undefined ? { scaleIntervalMs: ctx.config.scaleIntervalMs } : {}),
    ...(ctx.config.awsEndpointUrl ? { awsEndpointUrl: ctx.config.awsEndpointUrl } : {}),
    ...(ctx.config.awsIdentityCert ? { awsIdentityCertPath: ctx.config.awsIdentityCert } : {}),
    ...(ctx.config.awsRegion ? { awsRegion: ctx.config.awsRegion } : {}),
  };
}

async function runUntilSignal(ctx: CliContext, broker: { close(): Promise<void> }): Promise<number> {
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await broker.close();
  ctx.log.info({}, 'broker stopped');
  return 0;
}

/** --auth and its companions, checked together; undefined for the API key (the default). */
function brokerAuthFlags(flags: Record<string, unknown>, config: Readonly<CliConfig>): AwsIamSettings | undefined {
  const mode = flags['auth'] as string;
  const str = (k: string) => flags[k] as string | undefined;
  if (mode === 'api-key') {
    const stray = ['broker-id', 'admin', 'account'].filter((k) => str(k) !== undefined);
    if (stray.length > 0) throw new SkiffError('CLI_USAGE', `${stray.map((k) => `--${k}`).join(', ')} go with --auth aws-iam`);
    return undefined;
  }
  if (mode !== 'aws-iam') throw new SkiffError('CLI_USAGE', `--auth takes api-key or aws-iam; got "${mode}"`);
  const brokerId = str('broker-id');
  if (brokerId === undefined) throw new SkiffError('CLI_USAGE', '--auth aws-iam needs --broker-id ID (a name for this broker, e.g. team-analytics)');
  return {
    mode: 'aws-iam', brokerId,
    ...(str('admin') !== undefined ? { adminArn: str('admin') as string } : {}),
    ...(str('account') !== undefined ? { account: str('account') as string } : {}),
    ...(config.awsRegion ? { stsRegion: config.awsRegion } : {}),
    ...(config.awsStsEndpointUrl ? { stsEndpointUrl: config.awsStsEndpointUrl } : {}),
    ...(config.awsEndpointUrl ? { endpointUrl: config.awsEndpointUrl } : {}),
  };
}

/** `skiff broker --deployed`: the workspace's broker on its instance (broker/deployed/deployed.ts). */
async function deployedBrokerCommand(ctx: CliContext, flags: Record<string, unknown>): Promise<number> {
  for (const f of ['tls-cert', 'tls-key', 'tls-ca', 'public-url', 'background']) {
    if (flags[f] !== undefined) throw new SkiffError('CLI_USAGE', `--${f} does not go with --deployed: the deployed broker's URL and certificate come from its workspace's record`);
  }
  const workspace = workspaceFlag(flags);
  const region = (flags['region'] as string | undefined) ?? ctx.config.awsRegion ?? DEFAULT_REGION;
  const { startDeployedBroker } = await import('../deployed/deployed.js');
  const broker = await startDeployedBroker({
    workspace, region,
    ...(typeof flags['host'] === 'string' ? { host: flags['host'] } : {}),
    ...(typeof flags['port'] === 'number' ? { port: flags['port'] } : {}),
    ...(ctx.config.imdsUrl !== undefined ? { imdsUrl: ctx.config.imdsUrl } : {}),
    metadataDisabled: ctx.config.ec2MetadataDisabled,
    sts: {
      ...(ctx.config.awsStsEndpointUrl ? { stsEndpointUrl: ctx.config.awsStsEndpointUrl } : {}),
      ...(ctx.config.awsEndpointUrl ? { endpointUrl: ctx.config.awsEndpointUrl } : {}),
    },
    broker: {
      home: ctx.home, ...commonBrokerOptions(ctx),
      ...(typeof flags['webhook-url'] === 'string' ? { webhookUrl: flags['webhook-url'] } : ctx.config.webhookUrl ? { webhookUrl: ctx.config.webhookUrl } : {}),
    },
  });
  ctx.err(`skiff: deployed broker of workspace ${workspace} (${region}) listening on ${broker.url}\n`);
  return runUntilSignal(ctx, broker);
}

async function stopBroker(ctx: CliContext): Promise<number> {
  const p = skiffPaths(ctx.home);
  let info: BrokerInfo;
  try {
    info = JSON.parse(readFileSync(p.brokerInfo, 'utf8')) as BrokerInfo;
    process.kill(info.pid, 'SIGTERM');
  } catch {
    ctx.out('no local broker is running\n');
    return 0;
  }
  for (let i = 0; i < 100; i++) {
    if (!processAlive(info.pid)) {
      ctx.out(`broker (pid ${info.pid}) stopped\n`);
      return 0;
    }
    await sleep(100);
  }
  throw new SkiffError('CLI_TIMEOUT', `broker (pid ${info.pid}) did not stop within 10 s`);
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  // Text from machines (log lines, reports) reaches the terminal only with its control characters escaped.
  const out = (t: string): void => void process.stdout.write(terminalSafe(t));
  const err = (t: string): void => void process.stderr.write(terminalSafe(t));
  let config: Readonly<CliConfig>;
  try {
    config = loadCliConfig(env);
  } catch (e) {
    err(`skiff: error: ${(e as Error).message}\n`);
    return 2;
  }
  // Whatever this process (and the broker, agents and Dask it starts) writes is this user's only.
  privateUmask();
  makeHomePrivate(skiffPaths(config.home));
  const redact = ['token', '*.token', 'apiKey', 'keyPem', 'csrPem'];
  // One root logger per process: `skiff broker` logs the control plane to stdout; every other command logs to
  // stderr, quietly (its stdout is the command's answer).
  const log = command === 'broker'
    ? pino({ base: { component: 'broker' }, redact })
    : pino({ level: config.logLevel, base: { component: 'cli' }, redact }, pino.destination(2));
  const ctx: CliContext = { home: config.home, config, log, out, err };
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    ctx.out(TOP_HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    ctx.out(`${VERSION}\n`);
    return 0;
  }
  try {
    if (command === 'broker') return await brokerCommand(ctx, rest);
    if (!(command in COMMANDS)) throw new SkiffError('CLI_USAGE', `unknown command "${command}"; commands: ${[...Object.keys(COMMANDS), 'broker'].join(', ')}`);
    return await runCommand(ctx, command, rest);
  } catch (err) {
    if (isSkiffError(err)) {
      // With --json a refusal is one JSON line on stderr, the broker's error body plus its HTTP status (400: the
      // request was wrong): programs such as the Python package get the code without reading prose.
      if (rest.includes('--json')) ctx.err(JSON.stringify({ error: { code: err.code, message: err.message, status: ERROR_TABLE[err.code].status, retryable: err.retryable } }) + '\n');
      else ctx.err(`skiff: error: ${err.message}\n`);
      return err.code === 'CLI_USAGE' ? 2 : 1;
    }
    ctx.err(`skiff: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

// The SDK warns every Node 20 process about SDK releases of 2027; the versions skiff pins support Node 20.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`skiff: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
