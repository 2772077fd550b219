// The `skiff` commands (`up` in up-command.ts, the others beside this table or in their own files). Each validates its arguments completely before it talks to the broker, so bad
// input changes nothing.
import { join } from 'node:path';
import { SkiffError, isSkiffError } from '../api/errors.js';
import type { ClusterView, DashboardTokenResponse, NotificationView } from '../api/wire.js';
import { bootReportLines, cleanLine } from '../api/machine-report.js';
import { parseArgs, helpFor } from './args.js';
import { api, BROKER_FLAG, JSON_FLAG, type CliContext, type Command } from './common.js';

export type { CliContext } from './common.js';
import { fetchCredentials } from './credentials.js';
import { skiffPaths } from '../home.js';
import { logsCommand } from './logs-command.js';
import { gcCommand, networkCommand, policyCommand, setupCommand, teardownCommand } from './aws-commands.js';
import { deliverDataAccess, refreshDelayMs, resolveAwsCredentials } from './data-access.js';
import { dataAccessLine, type ForwardedAwsCredentials } from '../api/data-access.js';
import { adaptCommand, scaleCommand } from './scale-commands.js';
import { accessCommand } from './access-command.js';
import { dashboardCommand } from './dashboard-command.js';
import { upCommand } from './up-command.js';


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
  up: upCommand, list, status, down, scale: scaleCommand, adapt: adaptCommand, credentials, notifications, logs: logsCommand, dashboard: dashboardCommand, setup: setupCommand, teardown: teardownCommand, policy: policyCommand, gc: gcCommand, network: networkCommand, access: accessCommand,
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

