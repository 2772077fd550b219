// An agent token speaks for its own machine only: a worker's token (readable by any process on that worker)
// cannot fail the cluster, report for the scheduler, or act for another machine, and the cluster keeps running
// and computing after each try.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome, daskSum } from '../helpers/skiff.js';
import type { EnrolResponse } from '../../broker/api/wire.js';

interface UpJson {
  id: string;
  state: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

async function postEvent(brokerUrl: string, token: string, event: unknown): Promise<{ status: number; code?: string; message?: string }> {
  const res = await fetch(`${brokerUrl}/v1/agent/events`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(event),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const err = text === '' ? undefined : (JSON.parse(text) as { error?: { code: string; message: string } }).error;
  return { status: res.status, ...(err ? { code: err.code, message: err.message } : {}) };
}

t.test("a worker's agent token cannot fail the cluster or speak for the scheduler; the cluster keeps computing", async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '2', '--name', 'scoped', '--json', '--software', 'system']);
  t.equal(up.code, 0, `up succeeds: ${up.stderr}`);
  const c = JSON.parse(up.stdout) as UpJson;
  const brokerUrl = (JSON.parse(readFileSync(join(h.home, 'broker/broker.json'), 'utf8')) as { url: string }).url;

  // What a process on worker-1 can read: its own enrolment, with its agent token.
  const machinesDir = join(h.home, 'machines', c.id);
  const enrolments = readdirSync(machinesDir).map((d) => JSON.parse(readFileSync(join(machinesDir, d, 'enrolment.json'), 'utf8')) as EnrolResponse);
  const worker = enrolments.find((e) => e.role === 'worker');
  if (!worker) throw new Error('no worker enrolment found');

  const failed = await postEvent(brokerUrl, worker.agentToken, { kind: 'failed', reason: 'scheduler: pretend the cluster died', lastLogLines: ['x'] });
  t.match(failed, { status: 403, code: 'BRK_FORBIDDEN', message: /is a worker: its agent token cannot fail running cluster/ }, 'failed from a worker is refused');
  const again = await postEvent(brokerUrl, worker.agentToken, { kind: 'failed', reason: 'again', lastLogLines: [] });
  t.match(again, { status: 403, code: 'BRK_FORBIDDEN' }, 'a second try is refused the same way');
  t.match(await postEvent(brokerUrl, worker.agentToken, { kind: 'workers', count: 0 }), { status: 400 }, 'a worker cannot report the worker count');
  t.match(await postEvent(brokerUrl, worker.agentToken, { kind: 'ready' }), { status: 403, code: 'BRK_FORBIDDEN' }, 'a worker cannot report readiness');

  const status = JSON.parse((await h.run(['status', 'scoped', '--json'])).stdout) as { state: string; warnings?: string[] };
  t.equal(status.state, 'running', 'the cluster is still running');
  const alerts = (status.warnings ?? []).filter((w) => w.includes('reported a failure'));
  t.equal(alerts.length, 1, 'the worker\'s report is kept once, as an alert about that machine');
  t.match(alerts[0], new RegExp(`^${worker.machineName} reported a failure and left the cluster: `));

  const sum = await daskSum(c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, 30);
  t.same(sum, { ok: true, result: 4950 }, 'a real client still computes on the cluster');
});
