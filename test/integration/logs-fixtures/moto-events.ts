// Reads back a whole log stream with GetLogEvents (paged), the way a user's own tooling would.
import { GetLogEventsCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';

export async function allEvents(client: CloudWatchLogsClient, group: string, stream: string): Promise<{ timestamp: number; message: string }[]> {
  const out: { timestamp: number; message: string }[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const res = await client.send(
      new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, ...(token !== undefined && { nextToken: token }) }),
    );
    for (const e of res.events ?? []) out.push({ timestamp: e.timestamp ?? 0, message: e.message ?? '' });
    if (res.nextForwardToken === token) break;
    token = res.nextForwardToken;
  }
  return out;
}

/** Numbers of the `n <i> ...` lines, in the order they are stored. */
export function numbers(events: { message: string }[]): number[] {
  const out: number[] = [];
  for (const e of events) {
    const m = /\bn (\d+)\b/.exec(e.message);
    if (m) out.push(Number(m[1]));
  }
  return out;
}
