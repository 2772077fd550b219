// The log pipeline's public API (see shipper.ts for the picture).
//
// Agent (entry point reads config/env, then):
//   const sink = cfg.logs === 'cloudwatch'
//     ? createCloudWatchSink({ client: createCloudWatchLogsClient({ region }), log, retentionDays })
//     : createLocalSink({ dir: join(skiffHome, 'logs') });
//   const shipper = createLogShipper({ spoolDir: join(stateDir, 'log-spool'), sink, log,
//     group: logGroupFor(workspace), stream: logStreamFor(clusterId, machine) });   // machine: scheduler | worker-N
//   const root = pino({}, pino.multistream([{ stream: process.stdout }, { stream: shipper.pinoDestination() }]));
//   shipper.capture(dask.stdout, 'dask-worker:stdout'); shipper.capture(dask.stderr, 'dask-worker:stderr');
//   shipper.follow('/var/log/skiff-boot.log', 'boot', { statePath: join(stateDir, 'boot-log.pos') });
//   on shutdown: await shipper.close();
// `skiff logs` reads what this writes: broker/logs/reader.ts, through the names of broker/api/logs.ts.
export { createLogShipper, type LogShipper, type LogShipperOptions, type ShipperStats } from './shipper.js';
export {
  createCloudWatchSink,
  createCloudWatchLogsClient,
  type CloudWatchSinkOptions,
} from './cloudwatch-sink.js';
export { createLocalSink } from './local-sink.js';
export { createLineCapture, type LineCapture } from './capture.js';
export { createFileFollower, type FileFollower } from './file-follower.js';
export { createPinoDestination } from './pino-destination.js';
export { buildBatches, checkBatch, formatMessage, splitMessage, PUT_LOG_EVENTS_LIMITS } from './batcher.js';
export type { LogEvent, LogLine, LogSink, LogStreamRef, PipelineLog, PutOutcome, RejectedEvents } from './types.js';
export { logGroupFor, logStreamFor } from '../../broker/api/logs.js';
export { isRetryableAwsError } from './cloudwatch-sink.js';
export { DEFAULT_BUDGET_BYTES } from './spool.js';
