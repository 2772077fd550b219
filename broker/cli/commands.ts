// The `skiff` commands. Each validates its arguments completely before it talks to the broker, so bad
// input changes nothing.
import { join } from 'node:path';
import { SkiffError, isSkiffError } from '../api/errors.js';
import type { ClusterView, DashboardTokenResponse, NotificationView, WatchdogSettings } from '../api/wire.js';
import { bootReportLines, cleanLine } from '../api/machine-report.js';
import { parseArgs, helpFor, formatDurationMs } from './args.js';
import { api, BROKER_FLAG, JSON_FLAG, WORKSPACE_FLAG, workspaceFlag, type CliContext, type Command } from './common.js';

export type { CliContext } from './common.js';
import { fetchCredentials, pythonSnippet } from './credentials.js';
import { skiffPaths } from '../home.js';
import { AWS_FLAGS, awsOptions } from './aws-flags.js';
import { logsCommand } from './logs-command.js';
import { gcCommand, networkCommand, policyCommand, setupCommand, teardownCommand } from './aws-commands.js';
import { softwareRequest } from './client-env.js';
import { dataAccessFlags, deliverDataAccess, refreshDelayMs, resolveAwsCredentials } from './data-access.js';
import { dataAccessLine, type DataPayload, type ForwardedAwsCredentials } from '../api/data-access.js';
import type { CredentialFiles } from './credentials.js';
import { adaptCommand, scaleCommand } from './scale-commands.js';
import { accessCommand } from './access-command.js';
import { dashboardCommand } from './dashboard-command.js';

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

function oneRef(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new SkiffError('CLI_USAGE', `\`skiff ${command}\` takes one cluster name or id; see \`skiff ${command} --help\``);
  return positionals[0] as string;
}

function describe(c: ClusterView): string {
  const parts = [`${c.name} (${c.id})`, c.state, `${c.workersReady}/${c.workers} workers`, c.backend];
  if (c.adaptive) parts.splice(3, 0, `adaptive ${c.adaptive.minimum}-${c.adaptive.maximum}`);
  if (c.workersRetiring) parts.splice(3, 0, `${c.workersRetiring} retiring`);
  if (c.scheduler) parts.push(c.scheduler);
  if (c.reason) parts.push(`reason: ${c.reason}`);
  return parts.join('  ');
}

const up: Command = {
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

const list: Command = {
  synopsis: '[--all] [--json]',
  about: 'List your clusters, newest last (with --all, an admin sees everyone\'s, with their owners).',
  flags: { all: { kind: 'boolean', help: 'every cluster of the broker, not only yours (admins)' }, json: JSON_FLAG, 'broker-url': BROKER_FLAG },
  async run(ctx, positionals, flags) {
    if (positionals.length > 0) throw new SkiffError('CLI_USAGE', '`skiff list` takes no arguments');
    const clusters = await (await api(ctx, flags, true)).call<ClusterView[]>('GET', `/v1/clusters${flags['all'] ? '?all=1' : ''}`);
    if (flags['json']) ctx.out(JSON.stringify(clusters) + '\n');
    else if (clusters.length === 0) ctx.out('No clusters yet. Create one with `skiff up`.\n');
    else for (const c of clusters) ctx.out(describe(c) + (flags['all'] ? `  owner: ${c.owner ?? 'local'}` : '') + '\n');
    return 0;
  },
};

const status: Command = {
  synopsis: 'NAME|ID [--json]',
  about: 'Show one cluster: state, reason of the last change, scheduler address and a fresh dashboard URL.',
  flags: { json: JSON_FLAG, 'broker-url': BROKER_FLAG },
  async run(ctx, positionals, flags) {
    const ref = oneRef(positionals, 'status');
    const b = await api(ctx, flags, true);
    const c = await b.call<ClusterView>('GET', `/v1/clusters/${encodeURIComponent(ref)}`);
    let dashboard: string | undefined;
    if (c.state === 'running' || c.state === 'starting') {
      dashboard = (await b.call<DashboardTokenResponse>('POST', `/v1/clusters/${c.id}/dashboard-token`)).url;
    }
    if (flags['json']) ctx.out(JSON.stringify({ ...c, ...(dashboard ? { dashboard } : {}) }) + '\n');
    else {
      ctx.out(describe(c) + '\n');
      if (dashboard) ctx.out(`dashboard: skiff dashboard ${c.name}   (a local proxy that verifies the cluster's CA)\n           or directly ${dashboard}\n`);
      ctx.out(`workers: ${c.workers} requested, ${c.workersReady} connected${c.workersRetiring ? `, ${c.workersRetiring} retiring` : ''}; adaptive: ${c.adaptive ? `${c.adaptive.minimum} to ${c.adaptive.maximum}` : 'off'}\n`);
      const sw = c.software;
      if (sw) {
        const from = sw.pythonPath ? ` (read from ${sw.pythonPath})` : '';
        ctx.out(sw.mode === 'system'
          ? `software: the machines' own environment (--software system)${sw.client ? `; client${from}: ${Object.entries(sw.client).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}\n`
          : `software: ${sw.hash.slice(0, 12)}, Python ${sw.python ?? '?'}${from}: ${sw.packages.join(' ')}${sw.indexUrl ? `; index ${sw.indexUrl}` : ''}\n`);
        for (const [m, step] of Object.entries(sw.machines ?? {}).sort(([a], [b]) => a.localeCompare(b))) ctx.out(`  ${m}: ${step}\n`);
      }
      if (c.env) ctx.out(`env: ${Object.entries(c.env).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
      const access = dataAccessLine(c.dataAccess, c.dataAccessState);
      if (access) ctx.out(`data access: ${access}\n`);
      for (const w of c.warnings ?? []) ctx.out(`warning: ${w}\n`);
      for (const l of bootReportLines(c.bootReport)) ctx.out(`${l}\n`);
      for (const l of c.lastLogLines ?? []) ctx.out(`  ${cleanLine(l, 1000)}\n`);
    }
    return 0;
  },
};

const down: Command = {
  synopsis: 'NAME|ID [--json]',
  about: 'Stop a cluster: every machine is stopped; its record stays (state stopped).',
  flags: { json: JSON_FLAG, 'broker-url': BROKER_FLAG },
  async run(ctx, positionals, flags) {
    const ref = oneRef(positionals, 'down');
    const b = await api(ctx, flags, true);
    const target = await b.call<ClusterView>('GET', `/v1/clusters/${encodeURIComponent(ref)}`);
    if (target.state !== 'stopped') ctx.err(`skiff: stopping ${target.name} (${target.id}) ...\n`);
    const c = await b.call<ClusterView>('DELETE', `/v1/clusters/${target.id}`);
    ctx.out(flags['json'] ? JSON.stringify(c) + '\n' : `${c.name} (${c.id}) ${c.state}\n`);
    return 0;
  },
};

const notifications: Command = {
  synopsis: '[NAME|ID] [--follow] [--json]',
  about: 'Every state change (with its reason: stopped by user, idle for 20m, ...) and alert (idle GPUs), oldest first.',
  flags: { follow: { kind: 'boolean', help: 'keep printing new ones until interrupted' }, json: JSON_FLAG, 'broker-url': BROKER_FLAG },
  async run(ctx, positionals, flags) {
    if (positionals.length > 1) throw new SkiffError('CLI_USAGE', '`skiff notifications` takes at most one cluster name or id');
    const b = await api(ctx, flags, true);
    const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const query = positionals[0] !== undefined ? `cluster=${encodeURIComponent(positionals[0])}&` : '';
    let after = 0;
    for (;;) {
      const list = await b.call<NotificationView[]>('GET', `/v1/notifications?${query}after=${after}`);
      for (const n of list) {
        ctx.out(flags['json'] ? JSON.stringify(n) + '\n' : `${n.at}  ${n.clusterName}  ${n.kind === 'alert' ? 'ALERT' : n.kind === 'scale' ? 'SCALE' : n.state}${n.reason ? `  ${n.reason}` : ''}\n`);
        after = n.seq;
      }
      if (!flags['follow']) return 0;
      await sleep(1000);
    }
  },
};

const credentials: Command = {
  synopsis: 'NAME|ID (--out DIR | --forward) [--json]',
  about: 'Make a key pair here and get a client certificate for the cluster: writes ca.pem, client.pem, client-key.pem (0600). ' +
    'With --forward, sends fresh AWS credentials (and the --secret-env values of this shell) straight to the cluster at half their life, until interrupted or the cluster stops.',
  flags: {
    out: { kind: 'string', help: 'directory for the PEM files (with --forward, default the cluster\'s directory in $SKIFF_HOME)' },
    forward: { kind: 'boolean', help: 'keep the cluster\'s forwarded AWS credentials fresh while this runs' },
    json: JSON_FLAG, 'broker-url': BROKER_FLAG,
  },
  async run(ctx, positionals, flags) {
    const ref = oneRef(positionals, 'credentials');
    const out = flags['out'] as string | undefined;
    if (!out && !flags['forward']) throw new SkiffError('CLI_USAGE', '`skiff credentials` needs --out DIR (or --forward)');
    const b = await api(ctx, flags, true);
    if (!flags['forward']) {
      const files = await fetchCredentials(b, ref, out as string);
      ctx.out(flags['json'] ? JSON.stringify(files) + '\n' : `wrote ${files.ca}\nwrote ${files.cert}\nwrote ${files.key}\n`);
      return 0;
    }
    let c = await b.call<ClusterView>('GET', `/v1/clusters/${encodeURIComponent(ref)}`);
    if (!c.dataAccess?.forwardAws) throw new SkiffError('CLI_USAGE', `cluster ${c.name} was created without --forward-aws-credentials; it takes no AWS credentials from the client`);
    const files = await fetchCredentials(b, c.id, out ?? join(skiffPaths(ctx.home).clustersDir, c.name));
    const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const secretEnv: Record<string, string> = {};
    for (const n of c.dataAccess.secretEnv) {
      const v = ctx.config.lookupEnv(n);
      if (v !== undefined) secretEnv[n] = v;
    }
    let waiting = false;
    let aws: ForwardedAwsCredentials | undefined;
    for (;;) {
      if (!['pending', 'starting', 'running'].includes(c.state)) {
        ctx.err(`skiff: cluster ${c.name} is ${c.state}; no more credentials to send\n`);
        return 0;
      }
      let sentOk = false;
      if (c.scheduler && c.schedulerEnrolled) {
        // Resolved when they can be sent (a credential_process or STS call each time), kept while the scheduler starts.
        aws ??= await resolveAwsCredentials();
        try {
          await deliverDataAccess(c.scheduler, files, { aws, secretEnv });
          sentOk = true;
        } catch (err) {
          // A scheduler still starting does not answer yet: try again shortly. Anything else is the user's to see.
          if (!isSkiffError(err, 'CLI_DATA_ACCESS') || err.retryable !== true || c.state === 'running') throw err;
        }
      }
      if (!sentOk) {
        if (!waiting) ctx.err(`skiff: waiting for the scheduler of ${c.name} to take the data access\n`);
        waiting = true;
        await sleep(2000);
        c = await b.call<ClusterView>('GET', `/v1/clusters/${c.id}`);
        continue;
      }
      waiting = false;
      const sent = aws as ForwardedAwsCredentials;
      aws = undefined;
      const next = refreshDelayMs(sent, Date.now(), ctx.config.credentialsRefreshMs);
      const line = { at: new Date().toISOString(), cluster: c.name, identity: sent.identity ?? null, expiresAt: sent.expiration ?? null, nextInMs: next };
      ctx.out(flags['json'] ? JSON.stringify(line) + '\n' : `${line.at}  sent AWS credentials of ${sent.identity ?? '?'}${sent.expiration ? ` (until ${sent.expiration})` : ''} to ${c.name}; next in ${Math.round(next / 1000)}s\n`);
      await sleep(next);
      c = await b.call<ClusterView>('GET', `/v1/clusters/${c.id}`);
    }
  },
};

export const COMMANDS: Record<string, Command> = {
  up, list, status, down, scale: scaleCommand, adapt: adaptCommand, credentials, notifications, logs: logsCommand, dashboard: dashboardCommand, setup: setupCommand, teardown: teardownCommand, policy: policyCommand, gc: gcCommand, network: networkCommand, access: accessCommand,
};

export async function runCommand(ctx: CliContext, name: string, argv: string[]): Promise<number> {
  const cmd = COMMANDS[name];
  if (!cmd) throw new SkiffError('CLI_USAGE', `unknown command "${name}"; run \`skiff --help\``);
  if (argv.includes('--help') || argv.includes('-h')) {
    ctx.out(helpFor(name, cmd.synopsis, cmd.about, cmd.flags));
    return 0;
  }
  const { positionals, flags } = parseArgs(argv, cmd.flags, name);
  return cmd.run(ctx, positionals, flags);
}

