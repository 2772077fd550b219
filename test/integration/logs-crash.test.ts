import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startMoto } from '../helpers/moto.js';
import { createCloudWatchLogsClient } from '../../agent/logs/index.js';
import { allEvents, numbers } from './logs-fixtures/moto-events.js';
import { startCloudWatchProxy } from './logs-fixtures/cloudwatch-proxy.js';

const CHILD = fileURLToPath(new URL('./logs-fixtures/ship-numbered.ts', import.meta.url));
const TOTAL = 30_000;

/** Starts the shipper child writing lines [from, TOTAL); resolves with the last line it reported as written. */
function runChild(endpoint: string, spoolDir: string, from: number): { child: ChildProcess; result: Promise<{ written: number; done: boolean }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, spoolDir, 'ws-crash', 'worker-1', String(from), String(TOTAL)], {
    env: { ...process.env, AWS_ENDPOINT_URL: endpoint },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const result = new Promise<{ written: number; done: boolean }>((resolve, reject) => {
    let written = from;
    let done = false;
    createInterface({ input: child.stdout }).on('line', (text) => {
      const p = JSON.parse(text) as { written?: number; done?: boolean };
      if (p.written !== undefined) written = p.written;
      if (p.done !== undefined) done = p.done;
    });
    child.once('error', reject);
    child.once('exit', () => resolve({ written, done }));
  });
  return { child, result };
}

void t.test('an agent killed with SIGKILL mid-shipping loses no line on restart, and duplicates at most the chunk in flight', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const proxy = await startCloudWatchProxy(moto.endpoint);
  t.teardown(() => proxy.close());
  const client = createCloudWatchLogsClient(moto.clientConfig);
  t.teardown(() => client.destroy());
  const spoolDir = t.testdir();

  // Kill the agent right after moto stored its third batch, before the agent hears back: the worst moment,
  // since that batch is in CloudWatch but not in the checkpoint.
  const first = runChild(proxy.endpoint, spoolDir, 0);
  t.teardown(() => first.child.kill('SIGKILL'));
  let stored = 0;
  let inFlight = 0;
  let previous = 0;
  let last = 0;
  proxy.onPutStored = (events) => {
    previous = last;
    last = events;
    if (++stored === 3) {
      // The checkpoint moves once per spool chunk, and a chunk is built into one batch or, now and then, two
      // (the batcher's limits differ slightly from the spool's): what may be shipped again is that chunk.
      inFlight = events + previous;
      first.child.kill('SIGKILL');
    }
  };
  const killed = await first.result;
  proxy.onPutStored = undefined;
  t.equal(first.child.signalCode, 'SIGKILL');
  t.ok(killed.written < TOTAL, `killed before writing everything (${killed.written} of ${TOTAL} written)`);

  const second = runChild(proxy.endpoint, spoolDir, killed.written);
  t.teardown(() => second.child.kill('SIGKILL'));
  t.ok((await second.result).done, 'the restarted shipper flushed everything');

  const got = numbers(await allEvents(client, 'ws-crash', 'worker-1'));
  const seen = new Set(got);
  const missing = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => !seen.has(i));
  t.same(missing, [], 'every line written before the kill and after the restart arrived');
  const duplicates = got.length - seen.size;
  t.ok(duplicates > 0 && duplicates <= inFlight, `${duplicates} duplicates: at most the chunk in flight (its last batch ${last} events, with the one before ${inFlight})`);
});
