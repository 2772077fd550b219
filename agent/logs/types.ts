// Types of the log pipeline: capture → spool → batcher → sink (the event and stream shapes it shares with
// `skiff logs` are the contract's, broker/api/logs.ts). Cloud SDK types never appear here: the CloudWatch
// adapter translates at its edge.
import type { LogEvent, LogStreamRef } from '../../broker/api/logs.js';

export type { LogEvent, LogStreamRef };

/** The logger the pipeline writes its own diagnostics to (a pino logger satisfies it). */
export interface PipelineLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** One captured line: when it was seen, where it came from (e.g. `dask-worker:stderr`, `agent`, `boot`). */
export interface LogLine {
  timestampMs: number;
  source: string;
  /** Raw bytes (may hold invalid UTF-8: the batcher replaces it with U+FFFD). */
  text: Buffer;
}


/** Which events of an accepted batch the store refused, by index range, as CloudWatch reports them. */
export interface RejectedEvents {
  /** Events [0, tooOldEndIndex) were older than the store accepts (14 days). */
  tooOldEndIndex?: number;
  /** Events [tooNewStartIndex, n) were more than 2 h in the future. */
  tooNewStartIndex?: number;
  /** Events [0, expiredEndIndex) were older than the group's retention. */
  expiredEndIndex?: number;
}

/** Result of one put: a union, not an exception (OpenTelemetry's exporter pattern). */
export type PutOutcome =
  | { kind: 'success'; rejected?: RejectedEvents }
  | { kind: 'retryable'; error: Error }
  | { kind: 'failure'; error: Error };

/** Where batches go: CloudWatch Logs or the local log store. */
export interface LogSink {
  /** Store one batch that already obeys the PutLogEvents rules (see batcher.ts). Never throws. */
  put(target: LogStreamRef, events: readonly LogEvent[]): Promise<PutOutcome>;
}
