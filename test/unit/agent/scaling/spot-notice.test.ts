import t from 'tap';
import { pino } from 'pino';
import { watchSpotNotices } from '../../../../agent/scaling/spot-notice.js';
import type { AgentEvent } from '../../../../broker/api/wire.js';
import { until } from '../../../helpers/wait.js';

/** IMDSv2 as the agent sees it: a token first, then 404 for a notice that is not there. */
function fakeImds() {
  const leaves = new Map<string, string>();
  const seen: string[] = [];
  const fetch = (async (input: string | URL, init?: RequestInit) => {
    const url = String(input);
    seen.push(`${init?.method ?? 'GET'} ${url}`);
    if (url.endsWith('/api/token')) return new Response(init?.method === 'PUT' ? 'tok' : '', { status: init?.method === 'PUT' ? 200 : 405 });
    if ((init?.headers as Record<string, string> | undefined)?.['x-aws-ec2-metadata-token'] !== 'tok') return new Response('', { status: 401 });
    const path = url.slice(url.indexOf('/meta-data/') + '/meta-data/'.length);
    const body = leaves.get(path);
    return body === undefined ? new Response('not found', { status: 404 }) : new Response(body, { status: 200 });
  }) as typeof globalThis.fetch;
  return { leaves, seen, fetch };
}

t.test('reports a spot interruption notice once, with what IMDS said', async (t) => {
  const imds = fakeImds();
  const reports: AgentEvent[] = [];
  const w = watchSpotNotices({ report: async (e) => void reports.push(e), log: pino({ level: 'silent' }), pollMs: 5, fetch: imds.fetch });
  t.teardown(() => w.stop());
  await until(() => imds.seen.length > 6, 2000, 5);
  t.same(reports, [], 'no notice, no report');
  imds.leaves.set('spot/instance-action', '{"action": "terminate", "time": "2026-12-02T12:02:00Z"}');
  t.ok(await until(() => reports.length > 0, 2000, 5));
  await new Promise((r) => setTimeout(r, 50));
  t.same(reports, [{ kind: 'interrupted', notice: 'spot-interruption', detail: '{"action": "terminate", "time": "2026-12-02T12:02:00Z"}' }], 'once');
  t.ok(imds.seen.filter((s) => s.startsWith('PUT')).length === 1, 'one IMDSv2 token serves every poll');
});

t.test('a rebalance recommendation is a notice too', async (t) => {
  const imds = fakeImds();
  imds.leaves.set('events/recommendations/rebalance', '{"noticeTime": "2026-12-02T11:40:00Z"}');
  const reports: AgentEvent[] = [];
  const w = watchSpotNotices({ report: async (e) => void reports.push(e), log: pino({ level: 'silent' }), pollMs: 5, fetch: imds.fetch });
  t.teardown(() => w.stop());
  t.ok(await until(() => reports.length > 0, 2000, 5));
  t.match(reports[0], { kind: 'interrupted', notice: 'rebalance', detail: /noticeTime/ });
});

t.test('a report that fails is tried again at the next poll', async (t) => {
  const imds = fakeImds();
  imds.leaves.set('spot/instance-action', '{"action": "stop", "time": "2026-12-02T12:02:00Z"}');
  let calls = 0;
  const w = watchSpotNotices({
    report: async () => {
      calls++;
      if (calls === 1) throw new Error('broker away');
    },
    log: pino({ level: 'silent' }), pollMs: 5, fetch: imds.fetch,
  });
  t.teardown(() => w.stop());
  t.ok(await until(() => calls >= 2, 2000, 5), 'reported again after a failure');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(calls, 2, 'and not after it got through');
});
