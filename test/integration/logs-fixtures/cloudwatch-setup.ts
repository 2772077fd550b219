// What the log integration tests share: a moto server, the rule-checking proxy in front of it, a real
// CloudWatch Logs client pointed at the proxy, and a log that records what the pipeline said. All stopped
// in the test's teardown.
import { startMoto } from '../../helpers/moto.js';
import { createCloudWatchLogsClient } from '../../../agent/logs/index.js';
import { startCloudWatchProxy } from './cloudwatch-proxy.js';
import { fakeLog } from '../../unit/agent/logs/fixtures/fake-log.js';

export async function cloudWatchSetup(t: { teardown: (fn: () => unknown) => void }) {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const proxy = await startCloudWatchProxy(moto.endpoint);
  t.teardown(() => proxy.close());
  const client = createCloudWatchLogsClient({ ...moto.clientConfig, endpoint: proxy.endpoint });
  t.teardown(() => client.destroy());
  return { moto, proxy, client, log: fakeLog() };
}
