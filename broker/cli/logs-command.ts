// `skiff logs`: reads a cluster's log lines back from wherever they went (the local log store or the
// user's CloudWatch), also after the cluster stopped. Reads straight from the store with this machine's
// credentials; the broker only says where to look.
import { SkiffError } from '../api/errors.js';
import type { ClusterView } from '../api/wire.js';
import { clusterStreamPrefix, logStreamFor, machineOf } from '../api/logs.js';
import type { ReadLogsOptions } from '../logs/reader.js';
import { api, BROKER_FLAG, JSON_FLAG, type Command } from './common.js';

export const logsCommand: Command = {
  synopsis: 'NAME|ID [--follow] [--since DURATION] [--filter TEXT] [--machine scheduler|worker-N] [--json]',
  about: 'Print the log lines of a cluster\'s machines (Dask, the agents, boot), oldest first; works after `skiff down` too.',
  flags: {
    follow: { kind: 'boolean', help: 'keep printing new lines until interrupted' },
    since: { kind: 'duration', help: 'only lines from this long ago, e.g. 10m' },
    filter: { kind: 'string', help: 'only lines containing this text' },
    machine: { kind: 'string', help: 'only this machine (scheduler, worker-1, ...)' },
    json: JSON_FLAG,
    'broker-url': BROKER_FLAG,
  },
  async run(ctx, positionals, flags) {
    if (positionals.length !== 1) throw new SkiffError('CLI_USAGE', '`skiff logs` takes one cluster name or id');
    const c = await (await api(ctx, flags, true)).call<ClusterView>('GET', `/v1/clusters/${encodeURIComponent(positionals[0] ?? '')}`);
    const target = c.logs;
    if (!target) throw new SkiffError('BRK_NOT_FOUND', `cluster ${c.name} has no log target recorded`);
    // Loaded here: the CloudWatch SDK is large and only this command needs it.
    const [{ readLogs }, { CloudWatchLogsClient }] = await Promise.all([import('../logs/reader.js'), import('@aws-sdk/client-cloudwatch-logs')]);
    const machine = flags['machine'] as string | undefined;
    const since = flags['since'] as number | undefined;
    const filter = flags['filter'] as string | undefined;
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    const common = {
      group: target.group,
      streamPrefix: clusterStreamPrefix(c.id),
      ...(machine !== undefined ? { streams: [logStreamFor(c.id, machine)] } : {}),
      ...(since !== undefined ? { sinceMs: Date.now() - since } : {}),
      ...(filter !== undefined ? { filter } : {}),
      follow: flags['follow'] === true,
      signal: abort.signal,
    };
    const opts: ReadLogsOptions = target.sink === 'cloudwatch'
      ? { ...common, source: 'cloudwatch', client: new CloudWatchLogsClient({ region: target.region }) }
      : { ...common, source: 'local', dir: target.dir };
    try {
      // Lines go out in chunks: a cluster's log can be large, and one write per line is slow.
      let buf = '';
      for await (const e of readLogs(opts)) {
        buf += flags['json']
          ? JSON.stringify({ machine: machineOf(e.stream), timestamp: new Date(e.timestamp).toISOString(), message: e.message }) + '\n'
          : `${machineOf(e.stream)}  ${new Date(e.timestamp).toISOString()}  ${e.message}\n`;
        if (buf.length > 64 * 1024 || common.follow) {
          ctx.out(buf);
          buf = '';
        }
      }
      ctx.out(buf);
    } catch (err) {
      if (abort.signal.aborted) return 0;
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
    }
    return 0;
  },
};
