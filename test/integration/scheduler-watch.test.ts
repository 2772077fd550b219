// The scheduler agent's readiness watch against a stand-in for the scheduler's HTTP server: it reports
// readiness and worker counts quickly while the cluster forms, then polls slowly once nothing changes.
import t from 'tap';
import { createServer } from 'node:http';
import { pino } from 'pino';
import { watchScheduler } from '../../agent/scheduler-watch.js';
import type { AgentEvent } from '../../broker/api/wire.js';

t.test('reports ready and each worker count, then slows down once the cluster has settled', async (t) => {
  let requests = 0;
  let workers = 0;
  const server = createServer((req, res) => {
    requests++;
    res.end(req.url === '/health' ? 'ok' : JSON.stringify({ workers }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const events: AgentEvent[] = [];
  const watch = watchScheduler({
    httpBase: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    report: (e) => {
      events.push(e);
      return Promise.resolve();
    },
    log: pino({ level: 'silent' }),
    intervalMs: 20,
    settledIntervalMs: 1000,
    settleMs: 300,
  });
  t.teardown(() => watch.stop());
  await new Promise((r) => setTimeout(r, 150));
  workers = 2;
  await new Promise((r) => setTimeout(r, 150));
  t.same(events, [{ kind: 'ready' }, { kind: 'workers', count: 0 }, { kind: 'workers', count: 2 }]);
  await new Promise((r) => setTimeout(r, 400)); // settle
  const before = requests;
  await new Promise((r) => setTimeout(r, 1500));
  t.ok(requests - before <= 2, `settled: ${requests - before} requests in 1.5 s (about 37 while forming)`);
});
