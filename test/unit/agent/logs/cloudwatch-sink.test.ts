import t from 'tap';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { isSkiffError } from '../../../../broker/api/errors.js';
import { createCloudWatchSink, isRetryableAwsError } from '../../../../agent/logs/cloudwatch-sink.js';
import { clusterStreamPrefix, logGroupFor, logStreamFor, machineOf } from '../../../../broker/api/logs.js';
import { fakeLog } from './fixtures/fake-log.js';

const awsError = (name: string, status?: number): Error =>
  Object.assign(new Error(name), { name, ...(status !== undefined && { $metadata: { httpStatusCode: status } }) });

void t.test('throttling, 5xx, network errors and a missing group are retryable; a bad parameter is not', (t) => {
  const table: [Error, boolean][] = [
    [awsError('ThrottlingException', 400), true],
    [awsError('ServiceUnavailableException', 503), true],
    [awsError('InternalServerError', 500), true],
    [awsError('SomethingNew', 502), true],
    [awsError('TooManyRequests', 429), true],
    [awsError('ResourceNotFoundException', 400), true],
    [awsError('AccessDeniedException', 400), true],
    [awsError('TimeoutError'), true],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), true],
    [awsError('InvalidParameterException', 400), false],
    [awsError('DataAlreadyAcceptedException', 400), false],
    [awsError('SerializationException', 400), false],
  ];
  for (const [err, retryable] of table) t.equal(isRetryableAwsError(err), retryable, `${err.name}: ${retryable ? 'retry' : 'give up'}`);
  t.end();
});

void t.test('a retention CloudWatch does not accept is refused at startup with the accepted values', (t) => {
  const client = new CloudWatchLogsClient({ region: 'us-east-1' });
  t.teardown(() => client.destroy());
  try {
    createCloudWatchSink({ client, log: fakeLog(), retentionDays: 31 });
    t.fail('should have thrown');
  } catch (err) {
    t.ok(isSkiffError(err, 'AGT_CONFIG'));
    t.match((err as Error).message, /31 days .* one of 1, 3, 5, 7, 14, 30, 60/);
  }
  t.end();
});

void t.test('a cluster logs to /skiff/<workspace> in one stream per machine, found by prefix', (t) => {
  t.equal(logGroupFor('data team'), '/skiff/data-team');
  t.equal(logStreamFor('c-123', 'worker-2'), 'c-123/worker-2');
  t.ok(logStreamFor('c-123', 'scheduler').startsWith(clusterStreamPrefix('c-123')));
  t.notOk(logStreamFor('c-1234', 'scheduler').startsWith(clusterStreamPrefix('c-123')), 'a longer id is another cluster');
  t.equal(machineOf('c-123/worker-2'), 'worker-2');
  t.end();
});
