import t from 'tap';
import { BrokerRefusal, callBroker } from '../../../../broker/api/client.js';

const answer = (status: number, body: string): typeof fetch => () => Promise.resolve(new Response(body, { status }));

t.test('a refusal carries the broker\'s own code and message', async (t) => {
  const f = answer(404, JSON.stringify({ error: { code: 'BRK_NOT_FOUND', message: 'no cluster named "x"' } }));
  await t.rejects(callBroker('http://127.0.0.1:1', 'GET', '/v1/clusters/x', undefined, { fetch: f, code: 'CLI_BROKER_UNREACHABLE' }), {
    code: 'BRK_NOT_FOUND', message: 'no cluster named "x"', status: 404, brokerCode: 'BRK_NOT_FOUND', retryable: false,
  });
});

t.test('a code this side does not know is shown as the broker sent it, not as "unreachable"', async (t) => {
  const f = answer(409, JSON.stringify({ error: { code: 'BRK_QUOTA_FROZEN', message: 'the workspace is frozen' } }));
  const err = await callBroker('http://127.0.0.1:1', 'POST', '/v1/clusters', {}, { fetch: f, code: 'CLI_BROKER_UNREACHABLE' }).catch((e: unknown) => e);
  t.ok(err instanceof BrokerRefusal);
  t.match(err, { code: 'BRK_BAD_REQUEST', brokerCode: 'BRK_QUOTA_FROZEN', status: 409, message: 'the workspace is frozen (broker error BRK_QUOTA_FROZEN, HTTP 409)' });
  t.notMatch((err as Error).message, /unreachable/);
});

t.test('a broker that cannot be reached, or answers 5xx without a body, gives the caller\'s own retryable code', async (t) => {
  const down: typeof fetch = () => Promise.reject(new TypeError('fetch failed'));
  await t.rejects(callBroker('http://127.0.0.1:1', 'POST', '/v1/enrol', {}, { fetch: down, code: 'AGT_BROKER_UNREACHABLE' }), {
    code: 'AGT_BROKER_UNREACHABLE', retryable: true, message: /broker http:\/\/127\.0\.0\.1:1 unreachable: fetch failed/,
  });
  await t.rejects(callBroker('http://127.0.0.1:1', 'POST', '/v1/enrol', {}, { fetch: answer(503, 'busy'), code: 'AGT_BROKER_UNREACHABLE' }), {
    code: 'AGT_BROKER_UNREACHABLE', retryable: true, status: 503, message: 'busy',
  });
});

t.test('no token goes out over plain HTTP off loopback: refused before any request is made', async (t) => {
  const sent: string[] = [];
  const record: typeof fetch = (input) => {
    sent.push(input instanceof URL ? input.href : typeof input === 'string' ? input : input.url);
    return Promise.resolve(new Response('{}', { status: 200 }));
  };
  for (const url of ['http://192.0.2.10:8443', 'http://broker.example.com', 'http://[2001:db8::1]:80', 'ftp://127.0.0.1']) {
    await t.rejects(callBroker(url, 'POST', '/v1/token', undefined, { token: 'api-key', fetch: record, code: 'CLI_BROKER_UNREACHABLE' }), {
      code: 'BRK_CONFIG', retryable: false, message: /not calling the broker: .*(plain HTTP off this machine|not a scheme)/,
    }, url);
  }
  t.same(sent, [], 'nothing was sent');
  await callBroker('http://127.0.0.1:1', 'GET', '/v1/health', undefined, { fetch: record, code: 'CLI_BROKER_UNREACHABLE' });
  await callBroker('https://broker.example.com', 'GET', '/v1/health', undefined, { fetch: record, code: 'CLI_BROKER_UNREACHABLE' });
  t.equal(sent.length, 2, 'loopback HTTP and any HTTPS are called');
});
