// `skiff dashboard NAME`: the cluster's dashboard through a local proxy (dashboard-proxy.ts) that verifies the
// gateway against the cluster's own CA, from the user's credentials; runs until Ctrl-C.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SkiffError } from '../api/errors.js';
import type { ClusterView, DashboardTokenResponse } from '../api/wire.js';
import { skiffPaths } from '../home.js';
import { api, BROKER_FLAG, type Command } from './common.js';
import { fetchCredentials } from './credentials.js';
import { startDashboardProxy } from './dashboard-proxy.js';

/** The command that opens a URL in this desktop's browser, or undefined when there is no desktop to open it on. */
export function browserOpener(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  const found = (cmd: string): boolean =>
    (env['PATH'] ?? '').split(delimiter).some((dir) => {
      try {
        accessSync(join(dir, cmd), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  if (platform === 'darwin') return found('open') ? 'open' : undefined;
  if (!env['DISPLAY'] && !env['WAYLAND_DISPLAY']) return undefined;
  return found('xdg-open') ? 'xdg-open' : undefined;
}

function schedulerEndpoint(address: string): { host: string; port: number } {
  const u = new URL(address.replace(/^tls:/, 'https:'));
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || 443 };
}

export const dashboardCommand: Command = {
  synopsis: 'NAME|ID [--port N] [--no-open]',
  about: 'Open the cluster\'s dashboard in your browser through a local proxy on 127.0.0.1 that verifies the cluster\'s own CA ' +
    '(no certificate warning, no token in the browser). Prints the link (it opens once); runs until Ctrl-C.',
  flags: {
    port: { kind: 'int', help: 'local port (default: a free one)', default: 0 },
    'no-open': { kind: 'boolean', help: 'print the link only; do not start a browser' },
    'broker-url': BROKER_FLAG,
  },
  async run(ctx, positionals, flags) {
    if (positionals.length !== 1) throw new SkiffError('CLI_USAGE', '`skiff dashboard` takes one cluster name or id; see `skiff dashboard --help`');
    const port = flags['port'] as number;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SkiffError('CLI_USAGE', `--port ${port} is not a port (0 to 65535)`);
    const b = await api(ctx, flags, true);
    const c = await b.call<ClusterView>('GET', `/v1/clusters/${encodeURIComponent(positionals[0] ?? '')}`);
    if ((c.state !== 'running' && c.state !== 'starting') || !c.scheduler) {
      throw new SkiffError('CLI_DASHBOARD', `cluster ${c.name} is ${c.state}${c.scheduler ? '' : ' and has no scheduler yet'}; its dashboard is served while it runs`, { retryable: c.state === 'starting' || c.state === 'pending' });
    }
    const files = await fetchCredentials(b, c.id, join(skiffPaths(ctx.home).clustersDir, c.name));
    const proxy = await startDashboardProxy({
      gateway: schedulerEndpoint(c.scheduler),
      caPem: readFileSync(files.ca, 'utf8'),
      ticket: async () => (await b.call<DashboardTokenResponse>('POST', `/v1/clusters/${c.id}/dashboard-token`)).token,
      port,
    });
    ctx.out(`${proxy.url}\n`);
    ctx.err(`skiff: dashboard of ${c.name} on http://127.0.0.1:${proxy.port}/, verified against the cluster's CA; the link above opens it once. Ctrl-C stops the proxy\n`);
    const opener = flags['no-open'] ? undefined : browserOpener(process.env, process.platform);
    if (opener) {
      // A browser that fails to start changes nothing: the link is printed.
      const child = spawn(opener, [proxy.url], { stdio: 'ignore', detached: true });
      child.on('error', () => undefined);
      child.unref();
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await proxy.close();
    return 0;
  },
};
