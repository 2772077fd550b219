// The telemetry wire with real sockets on 127.0.0.1 and real cluster certificates from broker/pki:
// worker → scheduler (mutual TLS, per-cluster CA) and scheduler → broker (agent token), refusals included.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { logSink } from '../helpers/log-sink.js';
import { until } from '../helpers/wait.js';
import WebSocket from 'ws';
import { createCa, loadCaSigner } from '../../broker/pki/ca.js';
import { createKeyAndCsr } from '../../broker/api/csr.js';
import { signCsr } from '../../broker/pki/sign.js';
import { createTokenIssuer } from '../../broker/tokens/issuer.js';
import { createTelemetryServer } from '../../agent/telemetry/server.js';
import { createLink } from '../../agent/telemetry/link.js';
import { createAggregator } from '../../agent/telemetry/aggregate.js';
import { createTelemetryEndpoint } from '../../broker/watchdog/telemetry-endpoint.js';
import { TELEMETRY_PATH } from '../../broker/api/routes.js';
import type { MachineReport, TelemetrySummary } from '../../broker/api/telemetry.js';

type Line = Record<string, unknown>;
async function clusterPki(clusterId: string) {
  const ca = await createCa({ clusterId, validityMs: 24 * 3600_000 });
  const signer = loadCaSigner(ca);
  const issue = async (cn: string, profile: 'node' | 'user') => {
    const k = await createKeyAndCsr({ commonName: cn });
    const c = signCsr(signer, { csrPem: k.csrPem, profile, commonName: `${cn}.${clusterId}`, sans: { ips: ['127.0.0.1'], dns: ['localhost'] }, validityMs: 3600_000 });
    return { keyPem: k.keyPem, certPem: c.certPem };
  };
  return { caPem: ca.certPem, scheduler: await issue('scheduler', 'node'), worker: await issue('worker-1', 'node'), user: await issue('user', 'user') };
}

const report = (machine: string, util: number): MachineReport => ({
  v: 1, kind: 'machine', machine, atMs: Date.now(), daskUp: true, gpus: [{ index: 0, name: 'NVIDIA A10G', utilizationPct: util, memoryUsedMiB: 1024, memoryTotalMiB: 23028 }],
  metrics: { cpuLoadPct: 12, memUsedBytes: 1e9, memTotalBytes: 8e9, diskUsedBytes: 1e10, diskTotalBytes: 1e11, netRxBytesPerS: 10, netTxBytesPerS: 10 },
});

t.test('worker → scheduler telemetry server', async (t) => {
  const [a, b] = await Promise.all([clusterPki('caaaaaaaaaa'), clusterPki('cbbbbbbbbbb')]);
  const { log, lines } = logSink<Line>('debug');
  const reports: MachineReport[] = [];
  const server = await createTelemetryServer({
    host: '127.0.0.1', port: 0, tls: { ...a.scheduler, caPem: a.caPem }, onReport: (r) => reports.push(r), log, maxPayloadBytes: 8 * 1024,
  });
  t.teardown(() => server.close());
  const url = `wss://127.0.0.1:${server.address().port}/`;
  const tlsOf = (id: { keyPem: string; certPem: string }, caPem: string) => ({ cert: id.certPem, key: id.keyPem, ca: caPem, rejectUnauthorized: true });

  /** Opens a raw WebSocket; resolves with how it ended. */
  const raw = (opts: WebSocket.ClientOptions, send?: (ws: WebSocket) => void) =>
    new Promise<{ opened: boolean; code?: number; error?: string }>((resolve) => {
      const ws = new WebSocket(url, opts);
      let opened = false;
      ws.on('open', () => {
        opened = true;
        send?.(ws);
      });
      ws.on('error', (err) => resolve({ opened, error: err.message }));
      ws.on('close', (code) => resolve({ opened, code }));
    });

  await t.test('a worker of the cluster reports, named by its certificate, not by its message', async (t) => {
    const { log: linkLog } = logSink<Line>('debug');
    const link = createLink({ url, wsOptions: tlsOf(a.worker, a.caPem), log: linkLog });
    t.teardown(() => link.close());
    link.send({ ...report('pretending-to-be-scheduler', 2) });
    t.ok(await until(() => reports.length === 1), 'report arrived');
    t.equal(reports[0]?.machine, 'worker-1');
    t.equal(reports[0]?.gpus[0]?.utilizationPct, 2);
  });

  await t.test('a worker certificate of another cluster never gets a connection, and it is logged', async (t) => {
    const before = lines.length;
    const r = await raw(tlsOf(b.worker, a.caPem));
    t.equal(r.opened, false);
    t.ok(await until(() => lines.slice(before).some((l) => l['msg'] === 'telemetry connection refused: bad client certificate')));
  });

  await t.test('no client certificate: refused', async (t) => {
    const r = await raw({ ca: a.caPem, rejectUnauthorized: true });
    t.equal(r.opened, false);
  });

  await t.test('the user\'s certificate of the same cluster cannot report', async (t) => {
    const before = reports.length;
    const r = await raw(tlsOf(a.user, a.caPem), (ws) => ws.send(JSON.stringify(report('x', 1))));
    t.equal(r.code, 1008);
    t.equal(reports.length, before);
    t.ok(lines.some((l) => l['msg'] === 'telemetry connection refused: not a machine certificate of this cluster'));
  });

  for (const [name, payload] of [
    ['not JSON', 'hello'],
    ['a percentage over 100', JSON.stringify({ ...report('w', 2), gpus: [{ index: 0, name: 'x', utilizationPct: 250, memoryUsedMiB: 0, memoryTotalMiB: 0 }] })],
    ['a missing field', JSON.stringify({ v: 1, kind: 'machine', machine: 'w', atMs: 1, gpus: [], daskUp: true })],
    ['a negative number', JSON.stringify({ ...report('w', 2), atMs: -5 })],
  ] as const) {
    await t.test(`a message with ${name} closes that connection (1008) and is logged`, async (t) => {
      const before = reports.length;
      const logged = lines.length;
      const r = await raw(tlsOf(a.worker, a.caPem), (ws) => ws.send(payload));
      t.equal(r.code, 1008);
      t.equal(reports.length, before, 'nothing recorded');
      t.ok(lines.slice(logged).some((l) => l['msg'] === 'telemetry connection closed: malformed message'));
    });
  }

  await t.test('an oversized message closes that connection (1009) and is logged; the server keeps serving', async (t) => {
    const logged = lines.length;
    const r = await raw(tlsOf(a.worker, a.caPem), (ws) => ws.send(JSON.stringify({ ...report('w', 2), pad: 'x'.repeat(100_000) })));
    t.equal(r.code, 1009);
    t.ok(await until(() => lines.slice(logged).some((l) => l['msg'] === 'telemetry connection closed: protocol error')));
    const before = reports.length;
    const { log: linkLog } = logSink<Line>('debug');
    const link = createLink({ url, wsOptions: tlsOf(a.worker, a.caPem), log: linkLog });
    t.teardown(() => link.close());
    link.send(report('w', 3));
    t.ok(await until(() => reports.length === before + 1), 'a good worker still reports');
  });
});

t.test('scheduler → broker: agent token, summaries into the watchdog, refusals', async (t) => {
  let clockMs = Date.now();
  const tokens = createTokenIssuer({ now: () => new Date(clockMs) });
  const { log, lines } = logSink<Line>('debug');
  const observed: Array<{ clusterId: string; summary: TelemetrySummary }> = [];
  const endpoint = createTelemetryEndpoint({
    verifyAgentToken: async (token) => {
      const v = await tokens.verify('agent', token);
      return { cluster: v.cluster ?? '', role: v.role ?? '' };
    },
    onSummary: (clusterId, summary) => observed.push({ clusterId, summary }),
    log,
  });
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => {
    if (req.url === TELEMETRY_PATH) endpoint.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => {
    endpoint.close();
    http.closeAllConnections();
    http.close(() => resolve());
  }));
  const url = `ws://127.0.0.1:${port}${TELEMETRY_PATH}`;
  const schedulerToken = await tokens.mint('agent', { sub: 'm-1', cluster: 'caaaaaaaaaa', role: 'scheduler' }, 3600);
  const agg = createAggregator();
  agg.record(report('worker-1', 2), Date.now());
  const summary = agg.summarize({ tasksProcessing: 3, tasksQueued: 0, tasksNoWorker: 0, clients: 1, workers: 1 }, Date.now());

  await t.test('a summary sent with the scheduler\'s token reaches the watchdog for its cluster', async (t) => {
    const { log: linkLog } = logSink<Line>('debug');
    const link = createLink({ url, wsOptions: { headers: { authorization: `Bearer ${schedulerToken}` } }, log: linkLog });
    t.teardown(() => link.close());
    link.send(summary);
    t.ok(await until(() => observed.length === 1));
    t.equal(observed[0]?.clusterId, 'caaaaaaaaaa');
    t.same(observed[0]?.summary, summary);
  });

  const handshake = (headers: Record<string, string>) =>
    new Promise<{ status?: number; opened: boolean }>((resolve) => {
      const ws = new WebSocket(url, { headers });
      ws.on('open', () => {
        ws.terminate();
        resolve({ opened: true });
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve({ opened: false, status: res.statusCode ?? 0 });
        ws.terminate();
      });
      ws.on('error', () => resolve({ opened: false }));
    });

  await t.test('an expired agent token gets a 401, is logged, and the broker keeps serving', async (t) => {
    clockMs = Date.now() - 2 * 3600_000;
    const expired = await tokens.mint('agent', { sub: 'm-1', cluster: 'caaaaaaaaaa', role: 'scheduler' }, 60);
    clockMs = Date.now();
    const r = await handshake({ authorization: `Bearer ${expired}` });
    t.same(r, { opened: false, status: 401 });
    t.ok(lines.some((l) => l['msg'] === 'telemetry connection refused: bad agent token'));
    t.same(await handshake({}), { opened: false, status: 401 }, 'no token at all');
    const worker = await tokens.mint('agent', { sub: 'm-2', cluster: 'caaaaaaaaaa', role: 'worker' }, 3600);
    t.same(await handshake({ authorization: `Bearer ${worker}` }), { opened: false, status: 403 }, 'a worker token cannot speak for the cluster');
    t.same(await handshake({ authorization: `Bearer ${schedulerToken}` }), { opened: true }, 'the scheduler still connects');
  });

  await t.test('malformed and oversized summaries close the connection and are logged', async (t) => {
    for (const [payload, code] of [['{"v":1,"kind":"summary"}', 1008], [JSON.stringify({ ...summary, pad: 'x'.repeat(64 * 1024) }), 1009]] as const) {
      const logged = lines.length;
      const before = observed.length;
      const closed = await new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers: { authorization: `Bearer ${schedulerToken}` } });
        ws.on('open', () => ws.send(payload));
        ws.on('close', (c) => resolve(c));
        ws.on('error', () => undefined);
      });
      t.equal(closed, code);
      t.equal(observed.length, before);
      t.ok(await until(() => lines.slice(logged).some((l) => typeof l['msg'] === 'string' && (l['msg']).startsWith('telemetry connection closed'))));
    }
  });

  await t.test('summaries sent while the broker is away are buffered and arrive in order when it is back', async (t) => {
    // A second broker endpoint on a port we stop and restart.
    const down = createServer();
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    const p2 = (down.address() as AddressInfo).port;
    await new Promise<void>((resolve) => down.close(() => resolve()));
    const { log: linkLog } = logSink<Line>('debug');
    const link = createLink({
      url: `ws://127.0.0.1:${p2}${TELEMETRY_PATH}`, wsOptions: { headers: { authorization: `Bearer ${schedulerToken}` } }, log: linkLog,
      baseDelayMs: 50, maxDelayMs: 200, maxBuffered: 3,
    });
    t.teardown(() => link.close());
    for (let i = 1; i <= 5; i++) link.send({ ...summary, atMs: i });
    t.equal(link.connected(), false);
    t.ok(link.downSinceMs() !== undefined, 'the fail-safe can see the link is down');
    t.same(link.stats(), { sent: 0, dropped: 2, buffered: 3, connects: 0 }, 'bounded: the oldest two dropped');
    const before = observed.length;
    const back = createServer();
    const sockets = new Set<import('node:net').Socket>();
    back.on('connection', (s) => sockets.add(s));
    back.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => back.listen(p2, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      back.close(() => resolve());
    }));
    t.ok(await until(() => observed.length === before + 3), 'buffered summaries delivered');
    t.same(observed.slice(before).map((o) => o.summary.atMs), [3, 4, 5]);
    t.equal(link.downSinceMs(), undefined);
  });
});
