// The CloudWatch Logs adapter: the only file (with read-cloudwatch.ts) that knows the SDK.
// Ensures the group (per workspace; the retention set only on a group it creates) and the stream (per machine) exist before the first put,
// treating "already exists" as success; if a put says they are gone (a restarted emulator, someone deleted them),
// it forgets and ensures them again on the next try. Errors become a PutOutcome:
//   retryable: throttling, 5xx, network and timeouts, missing group/stream, credentials (they can be fixed)
//   failure:   anything else (InvalidParameterException, ...): that batch can never succeed.
// Create the client with `maxAttempts: 1`: the shipper owns retries (see createCloudWatchLogsClient).
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  type CloudWatchLogsClientConfig,
} from '@aws-sdk/client-cloudwatch-logs';
import { SkiffError } from '../../broker/api/errors.js';
import { DEFAULT_RETENTION_DAYS, isRetentionDays, RETENTION_DAYS } from '../../broker/api/logs.js';
import type { LogEvent, LogSink, LogStreamRef, PipelineLog, PutOutcome, RejectedEvents } from './types.js';


export interface CloudWatchSinkOptions {
  client: CloudWatchLogsClient;
  log: PipelineLog;
  /** Default 30. Must be one of RETENTION_DAYS. */
  retentionDays?: number;
  /** Timeout of each API call. Default 15 s. */
  timeoutMs?: number;
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'OperationAbortedException',
  'LimitExceededException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AbortError',
  'InternalFailure',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'CredentialsProviderError',
]);

export function isRetryableAwsError(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  if (e.name !== undefined && RETRYABLE_NAMES.has(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined) return true; // no HTTP answer at all: network error
  return status >= 500 || status === 429;
}

export function createCloudWatchLogsClient(config: CloudWatchLogsClientConfig): CloudWatchLogsClient {
  return new CloudWatchLogsClient({ maxAttempts: 1, ...config });
}

/**
 * A PutLogEvents command whose JSON body is built by the native JSON.stringify. The SDK's own serializer
 * escapes strings one character at a time in JavaScript (~140 MB/s, a third of the shipper's CPU); here it
 * serializes an empty event list and a build-step middleware, running before content-length and signing,
 * puts the real body in. Everything else (signing, HTTP, error parsing) stays the SDK's.
 */
function putLogEventsCommand(target: LogStreamRef, events: readonly LogEvent[]): PutLogEventsCommand {
  const input = { logGroupName: target.group, logStreamName: target.stream };
  // LogEvent is exactly CloudWatch's InputLogEvent shape ({ timestamp, message }): no copy needed.
  const body = JSON.stringify({ ...input, logEvents: events });
  const command = new PutLogEventsCommand({ ...input, logEvents: [] });
  command.middlewareStack.add(
    (next) => (args) => {
      (args.request as { body?: unknown }).body = body;
      return next(args);
    },
    { step: 'build', priority: 'high', name: 'skiffLogEventsBody' },
  );
  return command;
}

export function createCloudWatchSink(opts: CloudWatchSinkOptions): LogSink {
  const retentionDays = opts.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!isRetentionDays(retentionDays)) {
    throw new SkiffError('AGT_CONFIG', `log retention of ${retentionDays} days is not one CloudWatch accepts; use one of ${RETENTION_DAYS.join(', ')}`);
  }
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const { client, log } = opts;
  const readyGroups = new Set<string>();
  const readyStreams = new Set<string>();

  /** True when this call created it, false when it existed already. */
  async function createIgnoringExisting(send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceAlreadyExistsException') throw err;
      return false;
    }
  }

  async function ensure(target: LogStreamRef): Promise<void> {
    const key = `${target.group}\u0000${target.stream}`;
    if (readyStreams.has(key)) return;
    const logGroupName = target.group;
    if (!readyGroups.has(logGroupName)) {
      const created = await createIgnoringExisting(() => client.send(new CreateLogGroupCommand({ logGroupName }), { abortSignal: AbortSignal.timeout(timeoutMs) }));
      // Retention is set on a group this sink made; a group that exists keeps its own (the user's, or what
      // `skiff setup aws` / the provisioner set from log_retention_days).
      if (created) await client.send(new PutRetentionPolicyCommand({ logGroupName, retentionInDays: retentionDays }), { abortSignal: AbortSignal.timeout(timeoutMs) });
      readyGroups.add(logGroupName);
      log.info({ group: logGroupName, created, ...(created ? { retentionDays } : {}) }, 'log group ready');
    }
    await createIgnoringExisting(() =>
      client.send(new CreateLogStreamCommand({ logGroupName, logStreamName: target.stream }), { abortSignal: AbortSignal.timeout(timeoutMs) }),
    );
    readyStreams.add(key);
  }

  function outcomeOf(err: unknown, target: LogStreamRef): PutOutcome {
    const e = err instanceof Error ? err : new Error(String(err));
    if (e.name === 'ResourceNotFoundException') {
      readyGroups.delete(target.group);
      readyStreams.delete(`${target.group}\u0000${target.stream}`);
    }
    return isRetryableAwsError(err) ? { kind: 'retryable', error: e } : { kind: 'failure', error: e };
  }

  return {
    async put(target, events: readonly LogEvent[]) {
      try {
        await ensure(target);
        const out = await client.send(putLogEventsCommand(target, events), { abortSignal: AbortSignal.timeout(timeoutMs) });
        const info = out.rejectedLogEventsInfo;
        if (!info) return { kind: 'success' };
        const rejected: RejectedEvents = {};
        if (info.tooOldLogEventEndIndex !== undefined) rejected.tooOldEndIndex = info.tooOldLogEventEndIndex;
        if (info.tooNewLogEventStartIndex !== undefined) rejected.tooNewStartIndex = info.tooNewLogEventStartIndex;
        if (info.expiredLogEventEndIndex !== undefined) rejected.expiredEndIndex = info.expiredLogEventEndIndex;
        return Object.keys(rejected).length > 0 ? { kind: 'success', rejected } : { kind: 'success' };
      } catch (err) {
        return outcomeOf(err, target);
      }
    },
  };
}
