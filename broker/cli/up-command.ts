// `skiff up`: the whole request checked (flags, backend options, software, data access) before the broker is
// asked, then the cluster followed to running with progress, and its credentials written for the Dask client.
import { join } from 'node:path';
import { SkiffError, isSkiffError } from '../api/errors.js';
import type { ClusterView, DashboardTokenResponse, WatchdogSettings } from '../api/wire.js';
import { bootReportLines, cleanLine } from '../api/machine-report.js';
import type { DataPayload } from '../api/data-access.js';
import { formatDurationMs } from './args.js';
import { api, BROKER_FLAG, JSON_FLAG, WORKSPACE_FLAG, workspaceFlag, type Command } from './common.js';
import { fetchCredentials, pythonSnippet, type CredentialFiles } from './credentials.js';
import { skiffPaths } from '../home.js';
import { AWS_FLAGS, awsOptions } from './aws-flags.js';
import { softwareRequest } from './client-env.js';
import { dataAccessFlags, deliverDataAccess, resolveAwsCredentials } from './data-access.js';

const BACKENDS = ['local', 'aws'] as const;

function watchdogSettings(flags: Record<string, unknown>): WatchdogSettings | undefined {
  const map = {
    'idle-timeout': 'idleTimeoutMs', 'no-client-timeout': 'noClientTimeoutMs', 'heartbeat-timeout': 'heartbeatTimeoutMs',
    'gpu-alert-threshold': 'gpuAlertThresholdPct', 'gpu-alert-window': 'gpuAlertWindowMs',
  } as const;
  const out: WatchdogSettings = {};
  for (const [flag, key] of Object.entries(map)) if (flags[flag] !== undefined) out[key] = flags[flag] as number;
  return Object.keys(out).length > 0 ? out : undefined;
}

export const upCommand: Command = {
  synopsis: '[--name NAME] [--workers N] [--backend local|aws] [--wait-timeout DURATION] [--no-wait] [--json]',
  about: 'Create a Dask cluster and wait until its scheduler and workers are connected. Prints how to connect. ' +
    'A cluster not running within --wait-timeout is failed by the broker and its machines stopped, also with --no-wait.',
  flags: {
    name: { kind: 'string', help: 'cluster name (lower-case letters, digits, -)' },
    workers: { kind: 'int', help: 'number of Dask workers', default: 2 },
    backend: { kind: 'string', help: 'where machines run: local or aws', default: 'local' },
    'wait-timeout': { kind: 'duration', help: 'fail the cluster (and stop its machines) if not running within this time; default 15m on aws, 2m locally' },
    'no-wait': { kind: 'boolean', help: 'return once the machines are requested (state starting); the deadline still holds' },
    'worker-threads': { kind: 'int', help: 'Dask threads per worker (default: the worker\'s vCPUs on aws, a share of this computer\'s CPUs locally)' },
    'idle-timeout': { kind: 'duration', help: 'stop after no task ran this long (default 20m)' },
    'no-client-timeout': { kind: 'duration', help: 'stop after no Dask client was connected this long (default 2m)' },
    'heartbeat-timeout': { kind: 'duration', help: 'stop when the cluster has not reported this long (default 20m)' },
    'gpu-alert-threshold': { kind: 'int', help: 'alert when GPUs average below this utilization, percent (default 10)' },
    'gpu-alert-window': { kind: 'duration', help: 'over this window (default 15m)' },
    webhook: { kind: 'string', help: 'POST this cluster\'s notifications to this URL (Slack-compatible JSON)' },
    logs: { kind: 'string', help: 'where the machines\' logs go: local (default) or cloudwatch (always on aws)' },
    workspace: WORKSPACE_FLAG,
    software: { kind: 'string', help: 'client: every machine runs the client\'s Python, Dask versions and --packages in a virtual environment; system: the machines\' own Dask as it is', default: 'client' },
    python: { kind: 'string', help: 'the Python you run your Dask client with (default: the first python3 on PATH that imports distributed)' },
    packages: { kind: 'string', help: 'more packages for every machine, space-separated, pip syntax: "xarray==2024.1.0 s3fs" (a bare name gets the client\'s version)' },
    requirements: { kind: 'string', help: 'a requirements file (pip syntax; no editable installs or local paths)' },
    'pip-index-url': { kind: 'string', help: 'package index the machines install from (PEP 503; may carry credentials, given to machines only after enrolment; default $SKIFF_PIP_INDEX_URL, which keeps it off the command line)' },
    'pip-extra-index-url': { kind: 'string', help: 'further package indexes, space-separated (default $SKIFF_PIP_EXTRA_INDEX_URL)' },
    env: { kind: 'list', help: 'NAME=VALUE for every Dask process (kept in the cluster record, shown by status)' },
    'secret-env': { kind: 'list', help: 'NAME of a variable of this shell whose value every Dask process gets; sent to the machines only, never to the broker' },
    'forward-aws-credentials': { kind: 'boolean', help: 'send short-lived AWS credentials from your default chain straight to the machines, for Dask to read your data (default on aws)' },
    'no-forward-aws-credentials': { kind: 'boolean', help: 'do not: the machines have their own role only (default locally)' },
    json: JSON_FLAG,
    'broker-url': BROKER_FLAG,
    ...AWS_FLAGS,
  },
  async run(ctx, positionals, flags) {
    if (positionals.length > 0) throw new SkiffError('CLI_USAGE', `\`skiff up\` takes no positional arguments; got "${positionals.join(' ')}"`);
    const workers = flags['workers'] as number;
    if (workers < 0 || workers > 1000) throw new SkiffError('CLI_USAGE', `--workers must be from 0 to 1000; got ${workers}`);
    const backend = flags['backend'] as string;
    if (!(BACKENDS as readonly string[]).includes(backend)) throw new SkiffError('CLI_USAGE', `unknown backend "${backend}"; choose one of: ${BACKENDS.join(', ')}`);
    const name = flags['name'] as string | undefined;
    if (name !== undefined && !/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
      throw new SkiffError('CLI_USAGE', `cluster name "${name}" is not valid: use lower-case letters, digits and -, starting with a letter`);
    }
    const options = awsOptions(flags, backend);
    const workspace = workspaceFlag(flags);
    const pct = flags['gpu-alert-threshold'] as number | undefined;
    if (pct !== undefined && (pct < 0 || pct > 100)) throw new SkiffError('CLI_USAGE', `--gpu-alert-threshold is a percentage from 0 to 100; got ${pct}`);
    const waitMs = flags['wait-timeout'] as number | undefined;
    if (waitMs !== undefined && (waitMs < 1000 || waitMs > 24 * 3600_000)) throw new SkiffError('CLI_USAGE', `--wait-timeout must be from 1s to 24h; got ${formatDurationMs(waitMs)}`);
    const threads = flags['worker-threads'] as number | undefined;
    if (threads !== undefined && (threads < 1 || threads > 1024)) throw new SkiffError('CLI_USAGE', `--worker-threads must be from 1 to 1024; got ${threads}`);
    const data = dataAccessFlags(flags, backend, ctx.config.lookupEnv);
    const str = (k: string) => flags[k] as string | undefined;
    const software = await softwareRequest({
      software: flags['software'] as string,
      ...(str('python') !== undefined ? { python: str('python') as string } : {}),
      ...(str('packages') !== undefined ? { packages: str('packages') as string } : {}),
      ...(str('requirements') !== undefined ? { requirements: str('requirements') as string } : {}),
      ...((str('pip-index-url') ?? ctx.config.pipIndexUrl) !== undefined ? { pipIndexUrl: (str('pip-index-url') ?? ctx.config.pipIndexUrl) as string } : {}),
      ...((str('pip-extra-index-url') ?? ctx.config.pipExtraIndexUrl) !== undefined ? { pipExtraIndexUrl: (str('pip-extra-index-url') ?? ctx.config.pipExtraIndexUrl) as string } : {}),
    }, { path: ctx.config.path, say: (l) => ctx.err(`skiff: ${l}\n`) });
    const expectsData = data.forwardAws || data.secretEnv.length > 0;
    // Resolved before anything exists: no credentials to forward is an error that changes nothing.
    const aws = data.forwardAws ? await resolveAwsCredentials() : undefined;
    if (aws) ctx.err(`skiff: forwarding AWS credentials of ${aws.identity ?? 'an unknown identity'}${aws.expiration ? ` (valid until ${aws.expiration})` : ''} straight to the machines\n`);
    const payload: DataPayload = { ...(aws ? { aws } : {}), secretEnv: data.secretValues };
    const delivering = [aws ? 'AWS credentials' : '', ...data.secretEnv].filter(Boolean).join(', ');
    const now = ctx.now ?? Date.now;
    const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const started = now();
    const b = await api(ctx, flags, true, data.secretEnv);
    const watchdog = watchdogSettings(flags);
    const logs = flags['logs'] as string | undefined;
    if (logs !== undefined && logs !== 'local' && logs !== 'cloudwatch') throw new SkiffError('CLI_USAGE', `--logs takes local or cloudwatch; got "${logs}"`);
    const webhookUrl = flags['webhook'] as string | undefined;
    let c = await b.call<ClusterView>('POST', '/v1/clusters', {
      workers, backend, workspace, ...(name ? { name } : {}), ...(options ? { options } : {}), ...(watchdog ? { watchdog } : {}), ...(webhookUrl ? { webhookUrl } : {}),
      ...(logs ? { logs } : {}), ...(waitMs !== undefined ? { startTimeoutMs: waitMs } : {}), ...(threads !== undefined ? { workerThreads: threads } : {}),
      software, ...(data.env ? { env: data.env } : {}), ...(data.secretEnv.length > 0 ? { secretEnv: data.secretEnv } : {}),
      forwardAwsCredentials: data.forwardAws,
    });
    ctx.err(`skiff: creating cluster ${c.name} (${c.id}) with ${workers} worker${workers === 1 ? '' : 's'} on ${backend}\n`);
    const sw = c.software;
    if (sw?.mode === 'client') {
      ctx.err(`skiff: software environment ${sw.hash.slice(0, 12)}: installing ${sw.packages.length} package${sw.packages.length === 1 ? '' : 's'} on ${workers + 1} machine${workers === 0 ? '' : 's'} (${sw.packages.join(' ')})\n`);
    }
    const machineSteps = new Map<string, string>();
    let last = '';
    const credsDir = join(skiffPaths(ctx.home).clustersDir, c.name);
    let creds: CredentialFiles | undefined;
    let delivered = !expectsData;
    let deliveryNote = '';
    // The broker owns the deadline and fails the cluster there; the CLI only follows, with a margin for a broker
    // that is busy stopping machines.
    const deadline = (c.startDeadline ? Date.parse(c.startDeadline) - Date.parse(c.createdAt) : 900_000) + started + 120_000;
    for (;;) {
      const expected = c.workersLaunched ?? c.workers;
      const line = `${c.state}${c.state === 'starting' ? `, ${c.machinesEnrolled ?? 0}/${expected + 1} machines enrolled, ${c.workersReady}/${expected} workers connected` : ''}${c.reason && c.state === 'starting' ? ` (${c.reason})` : ''}`;
      for (const [m, step] of Object.entries(c.software?.machines ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
        if (machineSteps.get(m) === step) continue;
        machineSteps.set(m, step);
        ctx.err(`skiff: [${((now() - started) / 1000).toFixed(1)}s] ${m}: ${step}\n`);
      }
      if (line !== last) {
        ctx.err(`skiff: [${((now() - started) / 1000).toFixed(1)}s] ${line}\n`);
        last = line;
      }
      if (!delivered && !flags['no-wait'] && c.state === 'starting' && c.scheduler && c.schedulerEnrolled) {
        // Dask waits on every machine for what only this process has: it goes to the scheduler's gateway directly.
        try {
          creds ??= await fetchCredentials(b, c.id, credsDir);
          await deliverDataAccess(c.scheduler, creds, payload, 3_000);
          delivered = true;
          ctx.err(`skiff: [${((now() - started) / 1000).toFixed(1)}s] data access delivered to the scheduler: ${delivering}\n`);
        } catch (err) {
          if (!isSkiffError(err, 'CLI_DATA_ACCESS') || err.retryable !== true) {
            ctx.err(`skiff: ${(err as Error).message}; stopping cluster ${c.name}\n`);
            await b.call<ClusterView>('DELETE', `/v1/clusters/${c.id}`).catch(() => undefined);
            return 1;
          }
          const note = 'waiting for the scheduler\'s gateway to take the data access';
          if (deliveryNote !== note) ctx.err(`skiff: [${((now() - started) / 1000).toFixed(1)}s] ${note}\n`);
          deliveryNote = note;
        }
      }
      if (c.state === 'running') break;
      if (flags['no-wait'] && c.state === 'starting') {
        ctx.out(flags['json'] ? JSON.stringify({ id: c.id, name: c.name, state: c.state, scheduler: c.scheduler ?? null }) + '\n' : `${c.id}\n`);
        ctx.err(`skiff: machines requested; \`skiff status ${c.name}\` follows them. Not running by ${c.startDeadline ?? 'its deadline'}, it is failed and its machines stopped\n`);
        if (expectsData) ctx.err(`skiff: their Dask starts once the data access arrives: run \`skiff credentials ${c.name} --forward\` from this shell (it sends ${delivering} and keeps them fresh)\n`);
        return 0;
      }
      if (c.state === 'failed' || c.state === 'stopped' || c.state === 'stopping') {
        ctx.err(`skiff: cluster ${c.name} ${c.state}: ${c.reason ?? 'no reason recorded'}${c.state === 'failed' ? '; its machines were stopped' : ''}\n`);
        for (const l of bootReportLines(c.bootReport)) ctx.err(`${l}\n`);
        for (const l of c.lastLogLines ?? []) ctx.err(`  ${cleanLine(l, 1000)}\n`);
        return 1;
      }
      if (now() > deadline) {
        ctx.err(`skiff: cluster ${c.name} is still ${c.state} past its deadline ${c.startDeadline ?? ''}; the broker did not fail it (see its log). \`skiff down ${c.name}\` stops it\n`);
        return 1;
      }
      await sleep(c.state === 'pending' ? 200 : 500);
      c = await b.call<ClusterView>('GET', `/v1/clusters/${c.id}`);
    }
    creds ??= await fetchCredentials(b, c.id, credsDir);
    const dash = await b.call<DashboardTokenResponse>('POST', `/v1/clusters/${c.id}/dashboard-token`);
    const elapsed = ((now() - started) / 1000).toFixed(1);
    for (const w of c.warnings ?? []) ctx.err(`skiff: warning: ${w}\n`);
    if (flags['json']) {
      ctx.out(JSON.stringify({ id: c.id, name: c.name, state: c.state, scheduler: c.scheduler, dashboard: dash.url, credentials: creds, ...(c.warnings ? { warnings: c.warnings } : {}), ...(c.dataAccess ? { dataAccess: c.dataAccess } : {}) }) + '\n');
    } else {
      ctx.out(
        [
          `Cluster ${c.name} (${c.id}) is running: scheduler and ${c.workersReady} worker${c.workersReady === 1 ? '' : 's'} in ${elapsed}s.`,
          '',
          `  scheduler    ${c.scheduler}`,
          `  credentials  ${creds.ca}, ${creds.cert}, ${creds.key}`,
          `  dashboard    skiff dashboard ${c.name}   (a local proxy that verifies the cluster's CA)`,
          `               or directly ${dash.url}`,
          `               (a certificate warning; the link opens once, until ${dash.expiresAt}; \`skiff status ${c.name}\` prints a fresh one)`,
          ...(aws ? [`  data access  AWS credentials of ${aws.identity ?? '?'}${aws.expiration ? ` until ${aws.expiration}` : ''}; \`skiff credentials ${c.name} --forward\` keeps them fresh`] : []),
          '',
          'Connect from Python:',
          '',
          pythonSnippet(c.scheduler ?? '', creds),
          '',
          `Stop it with: skiff down ${c.name}`,
          `Or from Python (pip install ./python): cluster = skiff.Cluster.from_name(${JSON.stringify(c.name)}); client = cluster.get_client()`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  },
};

