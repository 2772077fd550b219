// What telemetry costs an agent: a worker agent collecting machine metrics and GPUs (the nvidia-smi fixture,
// a real child process per query) and reporting every 5 s over mutual-TLS WebSocket to a telemetry server,
// against the same process with telemetry off (same modules loaded, only an idle timer). Both run at the same
// time in their own processes; CPU from /proc/<pid>/stat over the same 30 s, RSS at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createCa, loadCaSigner } from '../../broker/pki/ca.js';
import { createKeyAndCsr } from '../../broker/api/csr.js';
import { signCsr } from '../../broker/pki/sign.js';
import { collectMachineMetrics } from '../../agent/metrics/machine.js';
import { queryGpus } from '../../agent/metrics/gpus.js';
import { createLink } from '../../agent/telemetry/link.js';
import { startWorkerReporter } from '../../agent/telemetry/reporter.js';
import { createTelemetryServer } from '../../agent/telemetry/server.js';
import { sized } from './mode.js';

const here = dirname(fileURLToPath(import.meta.url));
const WINDOW_MS = sized(30_000, 10_000);
const WARMUP_MS = 6000;
const INTERVAL_MS = 5000;

async function agent(mode: 'on' | 'off', port: number, tlsJson: string): Promise<void> {
  const log = pino({ level: 'warn' });
  if (mode === 'off') {
    setInterval(() => undefined, INTERVAL_MS);
    return;
  }
  const tls = JSON.parse(tlsJson) as { caPem: string; certPem: string; keyPem: string };
  const link = createLink({ url: `wss://127.0.0.1:${port}/`, wsOptions: { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: true }, log });
  startWorkerReporter({
    machine: 'worker-1', intervalMs: INTERVAL_MS, log, daskUp: () => true,
    collectMetrics: () => collectMachineMetrics(),
    queryGpus: () => queryGpus({ log, env: { ...process.env, PATH: `${join(here, '..', 'fixtures', 'nvidia-smi')}:${process.env['PATH'] ?? ''}`, FAKE_NVIDIA_SMI_GPUS: '4' } }),
    send: (r) => link.send(r),
  });
  setInterval(() => undefined, INTERVAL_MS);
}

const ticks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (100/s)
};
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function main(): Promise<void> {
  const ca = await createCa({ clusterId: 'cbench00000', validityMs: 3600_000 });
  const signer = loadCaSigner(ca);
  const issue = async (cn: string) => {
    const k = await createKeyAndCsr({ commonName: cn });
    return { keyPem: k.keyPem, certPem: signCsr(signer, { csrPem: k.csrPem, profile: 'node', commonName: `${cn}.cbench00000`, sans: { ips: ['127.0.0.1'], dns: [] }, validityMs: 3600_000 }).certPem };
  };
  const [sched, worker] = await Promise.all([issue('scheduler'), issue('worker-1')]);
  let reports = 0;
  const server = await createTelemetryServer({ host: '127.0.0.1', port: 0, tls: { ...sched, caPem: ca.certPem }, log: pino({ level: 'warn' }), onReport: () => reports++ });
  const tlsJson = JSON.stringify({ caPem: ca.certPem, ...worker });
  const start = (mode: 'on' | 'off'): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'agent', mode, String(server.address().port), tlsJson], { stdio: 'inherit' });
  const on = start('on');
  const off = start('off');
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const [on0, off0, r0] = [ticks(on.pid!), ticks(off.pid!), reports];
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const cpu = (t0: number, pid: number) => ((ticks(pid) - t0) / 100 / (WINDOW_MS / 1000)) * 100;
  const [onCpu, offCpu, onRss, offRss] = [cpu(on0, on.pid!), cpu(off0, off.pid!), rssMiB(on.pid!), rssMiB(off.pid!)];
  on.kill('SIGKILL');
  off.kill('SIGKILL');
  await server.close();
  const f = (n: number) => n.toFixed(2);
  process.stdout.write([
    `agent reporting every ${INTERVAL_MS / 1000} s (${reports - r0} reports in ${WINDOW_MS / 1000} s, machine metrics + 4 GPUs via nvidia-smi + wss)`,
    `agent CPU (% of one core): telemetry on ${f(onCpu)}%, off (baseline) ${f(offCpu)}% (+${f(onCpu - offCpu)} points)`,
    `agent RSS: telemetry on ${onRss.toFixed(1)} MiB, off (baseline) ${offRss.toFixed(1)} MiB (${(onRss / offRss).toFixed(2)}x)`,
  ].join('\n') + '\n');
}

if (process.argv[2] === 'agent') await agent(process.argv[3] as 'on' | 'off', Number(process.argv[4]), process.argv[5]!);
else await main();
