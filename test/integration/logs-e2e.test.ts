// Every line a Dask worker prints reaches CloudWatch (moto here) through the agent's shipper, and
// `skiff logs` reads them back, in order, also after the cluster stopped.
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { CloudWatchLogsClient, CreateLogGroupCommand, DescribeLogGroupsCommand, DescribeLogStreamsCommand, GetLogEventsCommand, PutRetentionPolicyCommand } from '@aws-sdk/client-cloudwatch-logs';
import { makeHome, DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import { startMoto } from '../helpers/moto.js';

const N = 10_000;
const expected = Array.from({ length: N }, (_, i) => `skiff-line ${String(i + 1).padStart(5, '0')} of ${N}`);

t.test('10,000 lines printed by a task arrive in CloudWatch and in `skiff logs`, in order', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const h = makeHome();
  Object.assign(h.env, moto.env);
  t.teardown(() => h.cleanup());

  const upRun = await h.run(['up', '--workers', '1', '--name', 'chatty', '--logs', 'cloudwatch', '--json']);
  t.equal(upRun.code, 0, upRun.stderr);
  const up = JSON.parse(upRun.stdout) as { id: string; scheduler: string; credentials: { ca: string; cert: string; key: string } };
  const c = up.credentials;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(DASK_PYTHON, [join(ROOT, 'test/integration/fixtures/dask_print.py'), up.scheduler, c.ca, c.cert, c.key, String(N)], { timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  t.equal(out.trim(), String(N), 'the task ran');

  const logs = new CloudWatchLogsClient(moto.clientConfig);
  const stream = `${up.id}/worker-1`;
  const readAll = async (): Promise<string[]> => {
    const lines: string[] = [];
    let token: string | undefined;
    for (;;) {
      const page = await logs.send(new GetLogEventsCommand({ logGroupName: '/skiff/default', logStreamName: stream, startFromHead: true, ...(token ? { nextToken: token } : {}) }));
      for (const e of page.events ?? []) if (e.message?.includes('skiff-line')) lines.push(e.message);
      if (!page.nextForwardToken || page.nextForwardToken === token || (page.events ?? []).length === 0) return lines;
      token = page.nextForwardToken;
    }
  };
  let inCloudWatch: string[] = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    inCloudWatch = await readAll();
    if (inCloudWatch.length >= N) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.same(inCloudWatch.map((m) => m.replace(/^\[[^\]]+\] /, '')), expected, 'GetLogEvents holds all 10,000, in order, in /skiff/default and the worker\'s stream');
  t.match(inCloudWatch[0], /^\[dask-worker:stdout\] /, 'each line carries its source');
  const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/skiff/default' }));
  t.equal(groups.logGroups?.[0]?.retentionInDays, 30, 'the group keeps logs 30 days');

  t.equal((await h.run(['down', 'chatty'])).code, 0);
  const read = await h.run(['logs', 'chatty', '--machine', 'worker-1', '--filter', 'skiff-line']);
  t.equal(read.code, 0, read.stderr);
  const lines = read.stdout.trim().split('\n');
  t.same(lines.map((l) => l.replace(/^worker-1 {2}\S+ {2}\[dask-worker:stdout\] /, '')), expected, '`skiff logs` after down prints all 10,000, in order');
  const escaped = await h.run(['logs', 'chatty', '--machine', 'worker-1', '--filter', 'skiff-escape']);
  t.equal(escaped.code, 0, escaped.stderr);
  // eslint-disable-next-line no-control-regex
  t.notOk(/[\x1b\x07\u202e]/.test(escaped.stdout), 'no raw escape, bell or bidi override reaches the terminal');
  t.match(escaped.stdout, 'skiff-escape \\u001b]0;pwned\\u0007 \\u001b[31mred\\u001b[0m \\u202eevil', 'the line is shown with its control characters escaped');
  const sched = await h.run(['logs', 'chatty', '--machine', 'scheduler', '--filter', 'Scheduler at']);
  t.match(sched.stdout, /^scheduler {2}\S+ {2}\[dask-scheduler:stderr\] .*Scheduler at: +tls:\/\/127\.0\.0\.1:\d+/m, 'the scheduler\'s lines are there too');
});

t.test('workspace team: a local cluster ships to /skiff/team, `skiff logs` reads it there, and the group\'s own retention survives the agents', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const logs = new CloudWatchLogsClient(moto.clientConfig);
  // The user made the group beforehand and keeps its logs a week.
  await logs.send(new CreateLogGroupCommand({ logGroupName: '/skiff/team' }));
  await logs.send(new PutRetentionPolicyCommand({ logGroupName: '/skiff/team', retentionInDays: 7 }));
  const h = makeHome();
  Object.assign(h.env, moto.env);
  t.teardown(() => h.cleanup());

  const bad = await h.run(['up', '--workers', '0', '--workspace', 'Team!']);
  t.equal(bad.code, 2, 'a workspace name that cannot be is a usage error');
  t.match(bad.stderr, /--workspace "Team!" is not valid: use 1 to 31 lower-case letters/);

  const upRun = await h.run(['up', '--workers', '1', '--name', 'teamed', '--logs', 'cloudwatch', '--workspace', 'team', '--json']);
  t.equal(upRun.code, 0, upRun.stderr);
  const up = JSON.parse(upRun.stdout) as { id: string };
  const status = JSON.parse((await h.run(['status', 'teamed', '--json'])).stdout) as { logs: { group: string } };
  t.match(status, { logs: { group: '/skiff/team' } }, 'status shows the workspace\'s log group');

  let streams: string[] = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const page = await logs.send(new DescribeLogStreamsCommand({ logGroupName: '/skiff/team' }));
    streams = (page.logStreams ?? []).map((s) => s.logStreamName ?? '').sort();
    if (streams.length >= 2) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.same(streams, [`${up.id}/scheduler`, `${up.id}/worker-1`], 'both machines ship to /skiff/team');
  const defaults = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/skiff/default' }));
  t.same(defaults.logGroups ?? [], [], 'nothing went to /skiff/default');

  const read = await h.run(['logs', 'teamed', '--machine', 'scheduler', '--filter', 'Scheduler at']);
  t.equal(read.code, 0, read.stderr);
  t.match(read.stdout, /^scheduler {2}\S+ {2}\[dask-scheduler:stderr\] .*Scheduler at/m, '`skiff logs` reads the team\'s group');
  t.equal((await h.run(['down', 'teamed'])).code, 0);

  const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/skiff/team' }));
  t.equal(groups.logGroups?.[0]?.retentionInDays, 7, 'the user\'s 7-day retention is what the group still has');
});
