// Pages of one CloudWatch log stream (GetLogEvents from the head, following nextForwardToken: the same token
// back means the end for now) and the list of a group's streams (DescribeLogStreams, paged).
import {
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  type CloudWatchLogsClient,
} from '@aws-sdk/client-cloudwatch-logs';
import { SkiffError } from '../api/errors.js';
import type { PageSource } from './read-merge.js';
import type { LogEvent } from '../api/logs.js';

export interface CloudWatchReadTarget {
  client: CloudWatchLogsClient;
  group: string;
  sinceMs?: number;
  untilMs?: number;
  /** Timeout of each API call. Default 15 s. */
  timeoutMs?: number;
}

const callSignal = (signal: AbortSignal, timeoutMs: number): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);

function notFound(err: unknown, group: string): never {
  if ((err as { name?: string }).name === 'ResourceNotFoundException') {
    throw new SkiffError('BRK_NOT_FOUND', `log group ${group} does not exist in CloudWatch; check the workspace name and the region`, { cause: err });
  }
  throw err;
}

export async function listCloudWatchStreams(t: CloudWatchReadTarget, signal: AbortSignal, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  // Bounded: at most 100 pages of 50 streams.
  for (let page = 0; page < 100; page++) {
    const out = await t.client
      .send(
        new DescribeLogStreamsCommand({
          logGroupName: t.group,
          ...(prefix !== '' && { logStreamNamePrefix: prefix }),
          ...(nextToken !== undefined && { nextToken }),
        }),
        {
          abortSignal: callSignal(signal, t.timeoutMs ?? 15_000),
        },
      )
      .catch((err: unknown) => notFound(err, t.group));
    for (const s of out.logStreams ?? []) if (s.logStreamName !== undefined) names.push(s.logStreamName);
    nextToken = out.nextToken;
    if (nextToken === undefined) break;
  }
  return names;
}

export function openCloudWatchStream(t: CloudWatchReadTarget, stream: string): PageSource {
  let token: string | undefined;
  return {
    stream,
    async nextPage(signal) {
      const out = await t.client
        .send(
          new GetLogEventsCommand({
            logGroupName: t.group,
            logStreamName: stream,
            startFromHead: true,
            ...(t.sinceMs !== undefined && { startTime: t.sinceMs }),
            ...(t.untilMs !== undefined && { endTime: t.untilMs }),
            ...(token !== undefined && { nextToken: token }),
          }),
          { abortSignal: callSignal(signal, t.timeoutMs ?? 15_000) },
        )
        .catch((err: unknown) => notFound(err, t.group));
      const events: LogEvent[] = [];
      for (const e of out.events ?? []) {
        if (e.timestamp !== undefined && e.message !== undefined) events.push({ timestamp: e.timestamp, message: e.message });
      }
      const atEnd = out.nextForwardToken === undefined || out.nextForwardToken === token;
      if (out.nextForwardToken !== undefined) token = out.nextForwardToken;
      return { events, atEnd };
    },
  };
}
