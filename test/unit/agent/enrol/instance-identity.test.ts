// Reading the signed instance identity document from IMDSv2: a session token first, then the document and
// its signature with that token, exactly as served (the signature covers those bytes).
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readInstanceIdentity } from '../../../../agent/enrol/instance-identity.js';

const DOCUMENT = '{\n  "accountId" : "123456789012",\n  "instanceId" : "i-0123456789abcdef0"\n}';

async function imds(t: Test, status = 200) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''} ${String(req.headers['x-aws-ec2-metadata-token'] ?? req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ?? '')}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('session-token');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'session-token') return res.writeHead(401).end();
    if (req.url === '/latest/dynamic/instance-identity/document') return res.writeHead(status).end(DOCUMENT);
    if (req.url === '/latest/dynamic/instance-identity/signature') return res.end('c2lnbmF0\ndXJl\n');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

t.test('gives the document as served and the signature on one line, with an IMDSv2 session token', async (t) => {
  const m = await imds(t);
  t.same(await readInstanceIdentity({ baseUrl: m.url }), { document: DOCUMENT, signature: 'c2lnbmF0dXJl' });
  t.same(m.seen, ['PUT /latest/api/token 300', 'GET /latest/dynamic/instance-identity/document session-token', 'GET /latest/dynamic/instance-identity/signature session-token']);
});

t.test('an IMDS that fails says so; a 5xx may be retried, a 4xx not', async (t) => {
  const m = await imds(t, 500);
  await t.rejects(readInstanceIdentity({ baseUrl: m.url }), { code: 'AGT_ENROL_FAILED', retryable: true, message: /instance-identity\/document answered HTTP 500/ });
  const n = await imds(t, 404);
  await t.rejects(readInstanceIdentity({ baseUrl: n.url }), { code: 'AGT_ENROL_FAILED', retryable: false });
  await t.rejects(readInstanceIdentity({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 }), { code: 'AGT_ENROL_FAILED', retryable: true, message: /unreachable/ });
});
