import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pinnedFetch } from '../../../../broker/api/pinned-fetch.js';
import { callBroker } from '../../../../broker/api/client.js';
import { tlsFixtures } from '../../../helpers/tls-fixtures.js';

t.test('trusts the pinned CA alone: its server answers, a certificate of any other CA is refused before a byte is sent', async (t) => {
  const f = tlsFixtures();
  const seen: string[] = [];
  const server = createServer({ key: f.daskServer.keyPem, cert: f.daskServer.certPem }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization ?? ''} ${body}`);
      res.writeHead(req.url === '/none' ? 204 : 200, { 'content-type': 'application/json' });
      res.end(req.url === '/none' ? undefined : JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const pinned = pinnedFetch(f.daskCa.certPem);
  t.same(await callBroker(url, 'POST', '/v1/x', { a: 1 }, { token: 'tok', fetch: pinned, code: 'AGT_BROKER_UNREACHABLE' }), { ok: true }, 'the broker of the pinned CA answers');
  t.same(seen, ['POST /v1/x Bearer tok {"a":1}']);
  t.equal((await pinned(`${url}/none`, { method: 'POST' })).status, 204, 'an empty answer');

  const other = pinnedFetch(f.gateway.certPem);
  await t.rejects(callBroker(url, 'POST', '/v1/x', { a: 2 }, { token: 'secret-token', fetch: other, code: 'AGT_BROKER_UNREACHABLE' }), { code: 'AGT_BROKER_UNREACHABLE', message: /unable to verify|self.signed|certificate/i });
  t.equal(seen.length, 2, 'a server whose certificate another CA issued got no request: the token never left');
  await t.rejects(pinned(`${url}/v1/x`, { signal: AbortSignal.abort(new Error('gave up')) }), /gave up/, 'an aborted signal is honoured');
});

t.test('plain HTTP (a loopback broker) goes to the usual fetch', async (t) => {
  const calls: string[] = [];
  const fallback: typeof fetch = (input) => {
    calls.push(input instanceof URL ? input.href : typeof input === 'string' ? input : input.url);
    return Promise.resolve(new Response('{}'));
  };
  await pinnedFetch(tlsFixtures().daskCa.certPem, fallback)('http://127.0.0.1:9/v1/health');
  t.same(calls, ['http://127.0.0.1:9/v1/health']);
});
