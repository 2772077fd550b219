// One broker-side watchdog + telemetry endpoint with 10,000 simulated clusters on loopback (a child process
// holds the 10,000 WebSockets, each with its own agent token, each reporting every 5 s). Figures:
//   CPU and RSS of the broker process while every cluster reports, beside the same process holding the same
//   10,000 connections silent (baseline), and the delay from a cluster crossing its idle limit to the stop
//   decision, beside the check interval (target: every decision within one interval).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import WebSocket from 'ws';
import { createTokenIssuer } from '../../broker/tokens/issuer.js';
import { createTelemetryEndpoint } from '../../broker/watchdog/telemetry-endpoint.js';
import { TELEMETRY_PATH } from '../../broker/api/routes.js';
import { createWatchdog } from '../../broker/watchdog/watchdog.js';
import type { TelemetrySummary } from '../../broker/api/telemetry.js';
import { sized } from './mode.js';

const CLUSTERS = Number(process.env['BENCH_CLUSTERS'] ?? sized(10_000, 1000));
const REPORT_MS = 5000;
const CHECK_MS = 5000;
const IDLE_MS = 10_000;
const REPORT_PHASE_MS = sized(35_000, 16_000);
const SILENT_PHASE_MS = 8000;

const summary = (processing: number): TelemetrySummary => ({
  v: 1, kind: 'summary', atMs: Date.now(), machines: 2, cpuLoadPct: 12, memUsedBytes: 2e9, memTotalBytes: 16e9,
  dask: { tasksProcessing: processing, tasksQueued: 0, tasksNoWorker: 0, clients: 1, workers: 1 },
  gpus: { count: 0, avgUtilizationPct: 0, memoryUsedMiB: 0, memoryTotalMiB: 0 },
});

// ---- child: the 10,000 scheduler agents ----
async function clients(port: number, tokenFile: string): Promise<void> {
  const tokens = JSON.parse(readFileSync(tokenFile, 'utf8')) as string[];
  const sockets: WebSocket[] = new Array<WebSocket>(tokens.length);
  const url = `ws://127.0.0.1:${port}${TELEMETRY_PATH}`;
  const open = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${tokens[i]}` }, perMessageDeflate: false });
      ws.once('open', () => resolve());
      ws.once('error', reject);
      sockets[i] = ws;
    });
  for (let i = 0; i < tokens.length; i += 200) await Promise.all(tokens.slice(i, i + 200).map((_, j) => open(i + j)));
  process.stdout.write('connected\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve())); // "go"
  const go = Date.now();
  const active = JSON.stringify(summary(1));
  const idle = JSON.stringify(summary(0));
  // Even clusters finish their work 1..11 s into the phase; odd ones compute throughout. Each cluster
  // reports every 5 s, staggered over the interval; the scheduler ticks every 50 ms.
  const activeForMs = (i: number) => (i % 2 === 1 ? Infinity : 1000 + (i % 11) * 1000);
  let slot = 0;
  const slots = REPORT_MS / 50;
  setInterval(() => {
    const elapsed = Date.now() - go;
    for (let i = slot; i < sockets.length; i += slots) sockets[i]!.send(elapsed < activeForMs(i) ? active : idle);
    slot = (slot + 1) % slots;
  }, 50);
  process.stdin.once('data', () => process.exit(0));
}

// ---- parent: the broker ----
async function broker(): Promise<void> {
  const log = pino({ level: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'skiff-wd-bench-'));
  const tokens = createTokenIssuer();
  const ids = Array.from({ length: CLUSTERS }, (_, i) => `c${i.toString(16).padStart(10, '0')}`);
  const t0 = performance.now();
  const minted = await Promise.all(ids.map((id) => tokens.mint('agent', { sub: `${id}/m`, cluster: id, role: 'scheduler' }, 3600)));
  writeFileSync(join(dir, 'tokens.json'), JSON.stringify(minted));
  process.stdout.write(`minted ${CLUSTERS} agent tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  const lastActive = new Map<string, number>();
  const delays: number[] = [];
  let wrongStops = 0;
  const watchdog = createWatchdog({
    checkIntervalMs: CHECK_MS, log,
    onStop: (id, reason) => {
      const a = lastActive.get(id);
      if (a === undefined || !reason.startsWith('idle') || parseInt(id.slice(1), 16) % 2 === 1) wrongStops++;
      else delays.push(Date.now() - (a + IDLE_MS));
    },
    onAlert: () => undefined,
  });
  let checkMs = 0;
  let checks = 0;
  const endpoint = createTelemetryEndpoint({
    verifyAgentToken: async (token) => {
      const v = await tokens.verify('agent', token);
      return { cluster: v.cluster ?? '', role: v.role ?? '' };
    },
    onSummary: (id, s) => {
      if (s.dask.tasksProcessing > 0) lastActive.set(id, Date.now());
      watchdog.observe(id, s);
    },
    log,
  });
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'clients', String(port), join(dir, 'tokens.json')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const t1 = performance.now();
  await new Promise<void>((resolve) => lines.on('line', (l) => l === 'connected' && resolve()));
  process.stdout.write(`${endpoint.connections()} connections open in ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);

  const measure = async (ms: number) => {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    const c = process.cpuUsage(c0);
    return { cpuPct: ((c.user + c.system) / 1000 / (performance.now() - w0)) * 100, rssMiB: process.memoryUsage().rss / 2 ** 20 };
  };
  // Baseline: the same process with every connection open and silent, no watchdog.
  global.gc?.();
  const silent = await measure(SILENT_PHASE_MS);

  // A cluster's idle clock starts when it is tracked (as after `skiff up`), then at its last busy report.
  const trackedAt = Date.now();
  for (const id of ids) {
    watchdog.track(id, { idleTimeoutMs: IDLE_MS, noClientTimeoutMs: 3600_000 });
    lastActive.set(id, trackedAt);
  }
  // Time each check pass too (wrapping the timer's own call).
  const timer = setInterval(() => {
    const s = performance.now();
    watchdog.check();
    checkMs += performance.now() - s;
    checks++;
  }, CHECK_MS);
  child.stdin.write('go\n');
  const reporting = await measure(REPORT_PHASE_MS);
  clearInterval(timer);
  child.stdin.write('stop\n');

  delays.sort((a, b) => a - b);
  const pick = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? NaN;
  const f = (n: number) => n.toFixed(1);
  process.stdout.write(
    [
      `clusters ${CLUSTERS} (half go idle 1..11 s in, half stay busy), each reporting every ${REPORT_MS / 1000} s for ${REPORT_PHASE_MS / 1000} s; idle limit ${IDLE_MS / 1000} s, check every ${CHECK_MS / 1000} s`,
      `broker CPU (% of one core): reporting ${f(reporting.cpuPct)}%, silent connections (baseline) ${f(silent.cpuPct)}% (${f(reporting.cpuPct / Math.max(silent.cpuPct, 0.1))}x)`,
      `broker RSS: reporting ${f(reporting.rssMiB)} MiB, silent connections (baseline) ${f(silent.rssMiB)} MiB (${(reporting.rssMiB / silent.rssMiB).toFixed(2)}x)`,
      `watchdog check pass over ${CLUSTERS} clusters: ${f(checkMs / Math.max(checks, 1))} ms mean (${checks} passes)`,
      `stop decisions: ${delays.length} of ${CLUSTERS / 2} idle clusters, ${wrongStops} wrong (busy or wrong reason); delay after the idle limit p50 ${f(pick(0.5) / 1000)} s, p99 ${f(pick(0.99) / 1000)} s, max ${f(pick(1) / 1000)} s vs check interval ${CHECK_MS / 1000} s (max/interval ${(pick(1) / CHECK_MS).toFixed(2)}x)`,
    ].join('\n') + '\n',
  );
  endpoint.close();
  http.closeAllConnections();
  http.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

if (process.argv[2] === 'clients') await clients(Number(process.argv[3]), process.argv[4]!);
else await broker();
