// Log shipping benchmark, figures beside a baseline measured in the same run:
//  1. Throughput (MB/s, lines/s) and CPU-seconds per GB shipping a file of 1 KB lines to a fast local endpoint
//     that speaks PutLogEvents, against @serdnam/pino-cloudwatch-transport on the same file (what a Node user
//     would install today). Target: ≥ 10× its throughput and > 50 MB/s on one core.
//  2. CPU and resident memory of a shipper process capturing a child's stdout at 100, 1,000 and 10,000
//     lines/s, beside Fluent Bit's published figures (0.03 vCPU / 44 MB at 1,000, 0.19 vCPU / 65 MB at 10,000).
// The endpoint and the line generator run in their own processes so their CPU is not counted.
// This file is also the child processes: `--endpoint`, `--generate <rate> <seconds>`, `--agent <seconds>`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createCloudWatchLogsClient, createCloudWatchSink, createLogShipper } from '../../agent/logs/index.js';
import { sized } from './mode.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = join(dirname(SELF), '..', '..');
const LINE_BYTES = 1024;
const FILE_MB = sized(128, 16);
const BASELINE_SECONDS = sized(10, 3);
const RATES = sized([100, 1000, 10000], [1000]);
const RATE_SECONDS = sized(5, 2);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };

// ---- child: the PutLogEvents endpoint -------------------------------------------------------------------
function runEndpoint(): void {
  let events = 0;
  let bytes = 0;
  let seq = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/stats') return res.end(JSON.stringify({ events, bytes }));
      const target = String(req.headers['x-amz-target'] ?? '');
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target.endsWith('.PutLogEvents')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { logEvents: { message: string }[] };
        events += body.logEvents.length;
        for (const e of body.logEvents) bytes += Buffer.byteLength(e.message);
        return res.end(JSON.stringify({ nextSequenceToken: String(++seq) }));
      }
      if (target.endsWith('.DescribeLogStreams')) {
        return res.end(JSON.stringify({ logStreams: [{ logStreamName: 'bench', uploadSequenceToken: String(seq) }] }));
      }
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
}

// ---- child: a process printing `rate` 1 KB lines per second (the Dask process) ----------------------------
function runGenerator(rate: number, seconds: number): void {
  const pad = 'g'.repeat(LINE_BYTES - 40);
  let n = 0;
  const started = Date.now();
  process.stdout.on('error', () => process.exit(0)); // the agent went away
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    let out = '';
    for (; n < due; n++) out += `${String(n).padStart(10, '0')} ${pad}\n`;
    if (out) process.stdout.write(out);
    if (Date.now() - started > seconds * 1000) {
      clearInterval(timer);
      process.stdout.end();
    }
  }, 10);
}

// ---- child: the shipper capturing stdin, reporting its CPU and RSS after a warm-up ------------------------
async function runAgent(endpoint: string, warmupSeconds: number, seconds: number): Promise<void> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'skiff-bench-agent-'));
  const client = createCloudWatchLogsClient({ endpoint, region: 'us-east-1', credentials });
  const shipper = createLogShipper({ spoolDir, group: 'bench', stream: 'agent', sink: createCloudWatchSink({ client, log: silent }), log: silent });
  shipper.capture(process.stdin, 'dask-worker:stdout');
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - t0) / 1000;
  const m = process.memoryUsage();
  const mem = { heapMb: m.heapTotal / 2 ** 20, externalMb: m.external / 2 ** 20 };
  process.stdout.write(`${JSON.stringify({ vcpu: (cpu.user + cpu.system) / 1e6 / wall, rssMb: peakRss / 2 ** 20, ...mem, shipped: shipper.stats().shippedEvents })}\n`);
  await shipper.close();
  client.destroy();
  rmSync(spoolDir, { recursive: true, force: true });
  process.exit(0);
}

// ---- main ------------------------------------------------------------------------------------------------
async function startChild(args: string[]): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [firstLine] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  return { child, firstLine };
}

async function endpointStats(endpoint: string): Promise<{ events: number; bytes: number }> {
  const res = await fetch(`${endpoint}/stats`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as { events: number; bytes: number };
}

async function writeInput(path: string): Promise<number> {
  const out = createWriteStream(path);
  const lines = (FILE_MB * 2 ** 20) / LINE_BYTES;
  const pad = 'x'.repeat(LINE_BYTES - 60);
  const time = Date.now();
  for (let i = 0; i < lines; i++) {
    // pino-shaped JSON, so the baseline (which parses every line) sees what it expects
    const line = `{"level":30,"time":${time},"n":${String(i).padStart(9, '0')},"msg":"${pad}"}`.padEnd(LINE_BYTES - 1, ' ');
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return lines;
}

interface Run {
  seconds: number;
  bytes: number;
  lines: number;
  cpuSeconds: number;
}

async function runSkiff(endpoint: string, file: string): Promise<Run> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'skiff-bench-spool-'));
  const client = createCloudWatchLogsClient({ endpoint, region: 'us-east-1', credentials });
  const shipper = createLogShipper({ spoolDir, group: 'bench', stream: 'skiff', sink: createCloudWatchSink({ client, log: silent }), log: silent });
  const before = await endpointStats(endpoint);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await shipper.capture(createReadStream(file, { highWaterMark: 256 * 1024 }), 'bench').done;
  if (!(await shipper.flush(120_000))) throw new Error('skiff shipper did not finish within 120 s');
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await shipper.close();
  client.destroy();
  rmSync(spoolDir, { recursive: true, force: true });
  const after = await endpointStats(endpoint);
  return { seconds, bytes: after.bytes - before.bytes, lines: after.events - before.events, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

type BaselineFactory = (opts: Record<string, unknown>) => Promise<NodeJS.WritableStream & { end(): void }>;

async function runBaseline(endpoint: string, file: string): Promise<Run | undefined> {
  let factory: BaselineFactory;
  try {
    process.env['AWS_ENDPOINT_URL'] = endpoint; // the transport offers no endpoint option
    const modName = '@serdnam/pino-cloudwatch-transport';
    factory = ((await import(modName)) as { default: BaselineFactory }).default;
  } catch {
    process.stdout.write('baseline @serdnam/pino-cloudwatch-transport is not installed: run `npm install --no-save @serdnam/pino-cloudwatch-transport` (it belongs in devDependencies)\n');
    return undefined;
  }
  const stream = await factory({ logGroupName: 'bench', logStreamName: 'baseline', awsRegion: 'us-east-1', awsAccessKeyId: 'bench', awsSecretAccessKey: 'bench', interval: 1000 });
  const before = await endpointStats(endpoint);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + BASELINE_SECONDS * 1000;
  // Feed the same file, respecting backpressure, until it is done or the time box ends (it is slow).
  for await (const chunk of createReadStream(file, { highWaterMark: 64 * 1024 })) {
    if (!stream.write(chunk as Buffer)) await once(stream as unknown as NodeJS.EventEmitter, 'drain');
    if (performance.now() > deadline) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const after = await endpointStats(endpoint);
  stream.end();
  return { seconds, bytes: after.bytes - before.bytes, lines: after.events - before.events, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * The agent runs compiled JavaScript, as it does on a VM, not under tsx, whose loader alone adds ~35 MB of resident
 * memory: the same build as the tests (`npm run bench` builds first), this file's own compiled copy in dist/.
 */
function compiledForAgent(): string {
  const js = join(ROOT, 'dist', relative(ROOT, SELF)).replace(/\.ts$/, '.js');
  if (!existsSync(js)) throw new Error(`${relative(ROOT, js)} is missing: \`npm run build\` first (\`npm run bench\` does)`);
  return js;
}

/** RSS of a process that only loads the SDK and the shipper module and idles: the runtime's own share. */
async function runFloor(agentScript: string): Promise<number> {
  const child = spawn(process.execPath, ['--no-warnings', agentScript, '--floor'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
  await once(child, 'exit');
  return Number(line);
}

async function runRate(agentScript: string, endpoint: string, rate: number): Promise<{ vcpu: number; rssMb: number; shipped: number }> {
  const warmup = 2;
  const seconds = RATE_SECONDS;
  const gen = spawn(process.execPath, [agentScript, '--generate', String(rate), String(warmup + seconds + 2)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const agent = spawn(process.execPath, ['--no-deprecation', '--no-warnings', agentScript, '--agent', endpoint, String(warmup), String(seconds)], { stdio: ['pipe', 'pipe', 'inherit'] });
  gen.stdout.pipe(agent.stdin);
  agent.stdin.on('error', () => undefined);
  const [line] = (await once(createInterface({ input: agent.stdout }), 'line')) as [string];
  gen.kill();
  await once(agent, 'exit');
  return JSON.parse(line) as { vcpu: number; rssMb: number; shipped: number };
}

async function main(): Promise<void> {
  const { child: endpointProc, firstLine } = await startChild(['--endpoint']);
  const endpoint = `http://127.0.0.1:${firstLine.trim()}`;
  const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-logs-'));
  try {
    const file = join(dir, 'lines.log');
    const lines = await writeInput(file);
    const fileBytes = statSync(file).size;
    const mb = (r: Run): number => r.bytes / 2 ** 20 / r.seconds;
    const cpuPerGb = (r: Run): number => r.cpuSeconds / (r.bytes / 2 ** 30);
    const skiff = await runSkiff(endpoint, file);
    if (skiff.lines !== lines) throw new Error(`skiff delivered ${skiff.lines} of ${lines} lines`);
    process.stdout.write(`input: ${lines} lines of ${LINE_BYTES} B (${(fileBytes / 2 ** 20).toFixed(0)} MB) to a local PutLogEvents endpoint\n`);
    const base = await runBaseline(endpoint, file);
    const row = (name: string, r: Run): string =>
      `${name.padEnd(34)} ${mb(r).toFixed(1).padStart(8)} MB/s ${Math.round(r.lines / r.seconds).toString().padStart(9)} lines/s ${cpuPerGb(r).toFixed(1).padStart(8)} CPU-s/GB = ${(1024 / cpuPerGb(r)).toFixed(1)} MB per CPU-second   (${r.lines} lines in ${r.seconds.toFixed(1)} s)\n`;
    process.stdout.write(row('skiff shipper (spool + batcher)', skiff));
    if (base) {
      process.stdout.write(row('pino-cloudwatch-transport (baseline)', base));
      process.stdout.write(`ratio: ${(mb(skiff) / mb(base)).toFixed(1)}x throughput, ${(cpuPerGb(base) / cpuPerGb(skiff)).toFixed(1)}x less CPU per GB (target: >= 10x and > 50 MB/s)\n`);
    }
    process.stdout.write('\nshipper process capturing a child at a steady rate (1 KB lines), beside Fluent Bit (published):\n');
    const fluent: Record<number, string> = { 100: '   n/a', 1000: '0.03 vCPU / 44 MB', 10000: '0.19 vCPU / 65 MB' };
    const agentScript = compiledForAgent();
    const floor = await runFloor(agentScript);
    process.stdout.write(`  floor: an idle Node ${process.version} with @aws-sdk/client-cloudwatch-logs loaded: ${floor.toFixed(0)} MB RSS (bare Node: ~41 MB)\n`);
    for (const rate of RATES) {
      const r = await runRate(agentScript, endpoint, rate);
      process.stdout.write(`${String(rate).padStart(6)} lines/s: ${r.vcpu.toFixed(3)} vCPU / ${r.rssMb.toFixed(0)} MB RSS   fluent-bit ${fluent[rate]}   (${r.shipped} lines shipped)\n`);
    }
  } finally {
    endpointProc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === '--endpoint') runEndpoint();
else if (mode === '--generate') runGenerator(Number(a), Number(b));
else if (mode === '--agent') await runAgent(a!, Number(b), Number(c));
else if (mode === '--floor') setTimeout(() => process.stdout.write(`${process.memoryUsage().rss / 2 ** 20}\n`), 1000);
else await main();
