// The log pipeline's public API (see shipper.ts for the picture).
export { createLogShipper, type LogShipper, type LogShipperOptions, type ShipperStats } from './shipper.js';
export { readLogs, type ReadLogsOptions } from './reader.js';
export {
  createCloudWatchSink,
  createCloudWatchLogsClient,
  DEFAULT_RETENTION_DAYS,
  RETENTION_DAYS,
  type CloudWatchSinkOptions,
} from './cloudwatch-sink.js';
export { createLocalSink } from './local-sink.js';
export { createLineCapture, type LineCapture } from './capture.js';
export { createFileFollower, type FileFollower } from './file-follower.js';
export { createPinoDestination } from './pino-destination.js';
export { buildBatches, checkBatch, formatMessage, splitMessage, PUT_LOG_EVENTS_LIMITS } from './batcher.js';
export type { LogEvent, LogLine, LogSink, LogStreamRef, PipelineLog, PutOutcome, ReadEvent, RejectedEvents } from './types.js';
export { clusterStreamPrefix, logGroupFor, logStreamFor, machineOf } from './naming.js';
export { isRetryableAwsError } from './cloudwatch-sink.js';
export { DEFAULT_BUDGET_BYTES } from './spool.js';
