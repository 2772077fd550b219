// `readLogs`: what `skiff logs` calls. Reads a workspace's log group from CloudWatch or the local store, all
// streams (machines) or some, merged in timestamp order, optionally filtered (plain substring, the same on
// both stores), from `sinceMs`, and following new lines until `signal` aborts. Works after the cluster stopped:
// it needs only the store.
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { listCloudWatchStreams, openCloudWatchStream, type CloudWatchReadTarget } from './read-cloudwatch.js';
import { listLocalStreams, openLocalStream, type LocalReadTarget } from './read-local.js';
import { readMerged } from './read-merge.js';
import type { ReadEvent } from '../api/logs.js';

interface CommonReadOptions {
  group: string;
  /** Stream names (machines) to read; default all in the group. */
  streams?: string[];
  /** Only streams whose name starts with this (one cluster's: see clusterStreamPrefix). */
  streamPrefix?: string;
  sinceMs?: number;
  untilMs?: number;
  /** Only messages containing this text. */
  filter?: string;
  follow?: boolean;
  /** Poll period when following. Default 1000 ms. */
  pollMs?: number;
  signal?: AbortSignal;
}

export type ReadLogsOptions =
  | (CommonReadOptions & { source: 'cloudwatch'; client: CloudWatchLogsClient; timeoutMs?: number })
  | (CommonReadOptions & { source: 'local'; dir: string });

export function readLogs(opts: ReadLogsOptions): AsyncGenerator<ReadEvent> {
  const range = {
    group: opts.group,
    ...(opts.sinceMs !== undefined && { sinceMs: opts.sinceMs }),
    ...(opts.untilMs !== undefined && { untilMs: opts.untilMs }),
  };
  const common = {
    ...(opts.filter !== undefined && { filter: opts.filter }),
    ...(opts.follow !== undefined && { follow: opts.follow }),
    ...(opts.pollMs !== undefined && { pollMs: opts.pollMs }),
    ...(opts.signal !== undefined && { signal: opts.signal }),
  };
  const only = opts.streams;
  const prefix = opts.streamPrefix ?? '';
  const pick = (all: string[]): string[] => all.filter((s) => s.startsWith(prefix) && (only === undefined || only.includes(s)));
  switch (opts.source) {
    case 'cloudwatch': {
      const t: CloudWatchReadTarget = { ...range, client: opts.client, ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) };
      return readMerged({
        ...common,
        discover: async (signal) => pick(await listCloudWatchStreams(t, signal, prefix)),
        open: (stream) => openCloudWatchStream(t, stream),
      });
    }
    case 'local': {
      const t: LocalReadTarget = { ...range, dir: opts.dir };
      return readMerged({
        ...common,
        discover: async () => pick(await listLocalStreams(t)),
        open: (stream) => openLocalStream(t, stream),
      });
    }
  }
}
