// Webhook delivery against a real HTTP receiver on 127.0.0.1: retries, refusals, timeouts, bounded queue.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { logSink } from '../helpers/log-sink.js';
import { createWebhookNotifier, type NotificationEvent } from '../../broker/watchdog/notify.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function receiver(t: Test, handler: Handler): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

const event: NotificationEvent = { at: '2026-11-26T12:00:00.000Z', clusterId: 'c0123456789', clusterName: 'etl', kind: 'stop', reason: 'idle for 10s' };

t.test('a stop is delivered as a Slack-compatible JSON POST after two 503s', async (t) => {
  let calls = 0;
  const r = await receiver(t, (_req, _body, res) => {
    calls++;
    res.writeHead(calls <= 2 ? 503 : 200).end('ok');
  });
  const { log } = logSink();
  const n = createWebhookNotifier({ url: r.url, log, baseDelayMs: 10, maxDelayMs: 50 });
  n.send(event);
  await n.idle();
  t.equal(r.bodies.length, 3, 'tried three times');
  const body = JSON.parse(r.bodies[2]!) as Record<string, unknown>;
  t.equal(body['text'], 'skiff: cluster etl (c0123456789) stopped: idle for 10s');
  t.equal(body['reason'], 'idle for 10s');
  t.equal(body['clusterId'], 'c0123456789');
  t.same(n.stats(), { delivered: 1, failed: 0, dropped: 0, queued: 0 });
});

t.test('a 400 is not retried and is logged as a failed delivery', async (t) => {
  const r = await receiver(t, (_req, _body, res) => res.writeHead(400).end('bad'));
  const { log, lines } = logSink();
  const n = createWebhookNotifier({ url: r.url, log, baseDelayMs: 10 });
  n.send(event);
  await n.idle();
  t.equal(r.bodies.length, 1);
  t.equal(n.stats().failed, 1);
  t.ok(lines.some((l) => l['msg'] === 'webhook delivery failed' && l['clusterId'] === 'c0123456789'));
});

t.test('a receiver that never answers times out and the next event is still delivered', async (t) => {
  let calls = 0;
  const r = await receiver(t, (_req, _body, res) => {
    calls++;
    if (calls > 1) res.writeHead(200).end(); // the first request hangs
  });
  const { log } = logSink();
  const n = createWebhookNotifier({ url: r.url, log, timeoutMs: 300, maxAttempts: 1 });
  n.send(event);
  n.send({ ...event, reason: 'no client connected for 5s' });
  await n.idle();
  t.same(n.stats(), { delivered: 1, failed: 1, dropped: 0, queued: 0 });
  t.match(r.bodies[1], /no client connected for 5s/);
});

t.test('send never waits: a full queue drops, counts and logs once', async (t) => {
  const r = await receiver(t, (_req, _body, res) => setTimeout(() => res.writeHead(200).end(), 50));
  const { log, lines } = logSink();
  const n = createWebhookNotifier({ url: r.url, log, maxQueue: 5 });
  for (let i = 0; i < 100; i++) n.send({ ...event, reason: `r${i}` });
  t.ok(n.stats().queued <= 5, 'the queue never holds more than its bound');
  await n.idle();
  const s = n.stats();
  t.equal(s.delivered + s.dropped, 100, 'every event delivered or counted as dropped');
  t.ok(s.dropped >= 90, `dropped ${s.dropped}`);
  t.equal(lines.filter((l) => l['msg'] === 'webhook queue was full; notifications dropped').length, 1, 'one log line for the burst');
});
