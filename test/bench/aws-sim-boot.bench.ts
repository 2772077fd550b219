// Issue 8's boot-phase benchmark: `skiff up --backend aws --workers 2` through the EC2 machine simulator (real
// moto, real user-data in namespaces, the real agent bundle, real Dask), split by phase from the timestamps the
// parts write themselves, beside the same `skiff up --workers 2` on the local backend (baseline, same run) and
// beside a written estimate of each phase on real AWS with its sources (PHASES, SOURCES below).
//
//   CLI start ─► broker: cluster starting (plan + create/launch calls done)          broker log (pino)
//     instance launched (broker progress line) ─► user-data start                     `skiff bootstrap: [ISO] start`
//     metadata ─► node ─► bundle ─► agent unit started                                 `skiff bootstrap:` steps
//     agent process start (/proc) ─► enrolled                                          agent journal (pino)
//     enrolled ─► Dask present (the probe; a fresh image installs it here with apt)   agent journal
//   last machine with Dask present ─► cluster running (scheduler up, workers in)     broker log
//     (local machines have no such step: from their last enrolment)
//   CLI start ─► CLI returns (total, as the user waits)
//
// Per-machine phases are medians over every machine of every run, cluster phases medians over runs. The
// simulator's VMs boot in namespaces on this machine, so "instance → user-data start" is the simulator's poll
// and namespace set-up, not a kernel boot; its image has Node 20 on PATH and Dask installed, so the node step
// and the Dask check do not download anything. The estimate column says what those cost on EC2.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { startEc2Sim, type Ec2Sim } from '../sim/ec2-sim.js';
import { startSimSkiff, type SimSkiff } from '../helpers/sim-skiff.js';
import { makeHome, type SkiffHome } from '../helpers/skiff.js';
import { sized } from './mode.js';

const RUNS = Number(process.env['BENCH_BOOT_RUNS'] ?? sized(3, 1));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// ── what real AWS would take, per phase, and where the figures come from ───────────────────────────────────
type SourceId = keyof typeof SOURCES;
const SOURCES = {
  percival: 'C. Percival, "EC2 boot time benchmarking", daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html: ec2-boot-bench splits a launch into RunInstances (1.5 s in its example), pending→running (4.9 s), running→TCP/22 closed (17.2 s: the kernel and init) and →open (5.6 s); medians of 9 boots per AMI, c5.xlarge',
  brev: 'brevdev/ec2-coldboot-research (GitHub): cold launch to SSH 25.8 s avg = API ~5 s (19%) + pending→running 16.4-16.6 s whatever the family (69%) + boot→SSH 3.2 s; instance types differ by 0.7 s',
  sweet: 'M. Sweet, "EC2 Launch Times", martysweet.co.uk/ec2-launch-times (Oct 2023): what a launch waits for (ENI, public IP, EBS root from the AMI snapshot, host placement, Nitro start); AL2023 is the fastest general-purpose AMI; EBS encryption slows launches',
  cloudinit: 'cloud-init docs, "Boot stages", docs.cloud-init.io/en/latest/explanation/boot.html: Detect, Local (IMDS), Network, Config, Final; user scripts (cloud_final_modules) run in Final, after the network is online and SSH is up',
  nodedist: 'issue 8 research: the official node-v20.20.0-linux-x64.tar.xz (checksum pinned in provisioner/plan/user-data.ts) from nodejs.org, download + xz unpack on one vCPU 3-10 s; size and times not re-checked here',
  apt: 'issue 8 research, not re-measured here: on Debian 12 `apt-get update` 4-10 s, `apt-get install python3-distributed --no-install-recommends` (what agent/prepare.ts runs) 10-30 s; with Recommends 279 packages / 332 MB, 90-240 s',
  agentlocal: 'not EC2-bound: key pair + CSR + a few HTTPS round trips to the broker (agent/enrol), a unit start, the agent bundle (one 3 MB main.js, gzipped) from the broker; the local baseline above is the floor, the range allows a broker up to ~100 ms away',
  dask: 'issue 8 research (3-8 s for `dask scheduler` + workers with TLS, workers joining over the VPC); the local baseline above is the same Dask start on this machine',
  coiled: 'coiled/feedback#115 (GitHub): Coiled prints "Creating Cluster. This takes about a minute", measured 3 min 10 s (2021-02, 5 workers, GCP) and "around 2.25-2.5 minutes" in Coiled\'s own stress test (2022-05); issue 8 research gives its claim as 1-2 min',
  dcp: 'dask-cloudprovider doc/source/packer.rst: EC2Cluster\'s default VM installs Docker with cloud-init (apt-get update, docker-ce) and pulls daskdev/dask on every boot; the same cloud-init under Packer took 4 min 5 s (boot, cloud-init, snapshot), RAPIDS ~20 min unbaked, <5 min baked; issue 8 research: ~4+ min',
} as const;

interface Estimate {
  lowS: number;
  highS: number;
  sources: SourceId[];
}

type PhaseKey = 'api' | 'boot' | 'metadata' | 'node' | 'bundle' | 'unit' | 'enrol' | 'daskCheck' | 'daskStart' | 'credentials' | 'total';

interface PhaseDef {
  key: PhaseKey;
  label: string;
  /** What the simulator does instead of what EC2 does, when that differs. */
  simNote: string;
  estimate: Estimate;
}

const PHASES: PhaseDef[] = [
  { key: 'api', label: 'CLI start → create/launch calls done', simNote: 'moto in the outer namespace: ms per call', estimate: { lowS: 3, highS: 10, sources: ['percival', 'brev'] } },
  { key: 'boot', label: 'instance launched → user-data start', simNote: 'sim poll + namespaces, no kernel boot', estimate: { lowS: 20, highS: 35, sources: ['percival', 'brev', 'sweet', 'cloudinit'] } },
  { key: 'metadata', label: '  boot script: IMDS metadata', simNote: '', estimate: { lowS: 0.05, highS: 0.5, sources: ['cloudinit'] } },
  { key: 'node', label: '  boot script: Node 20', simNote: 'on PATH in the image: no download', estimate: { lowS: 3, highS: 10, sources: ['nodedist'] } },
  { key: 'bundle', label: '  boot script: bundle fetch + verify', simNote: '', estimate: { lowS: 0.3, highS: 2, sources: ['agentlocal'] } },
  { key: 'unit', label: '  boot script: agent unit start', simNote: 'systemctl stand-in', estimate: { lowS: 0.1, highS: 0.5, sources: ['agentlocal'] } },
  { key: 'enrol', label: 'agent process start → enrolled', simNote: '', estimate: { lowS: 0.2, highS: 2, sources: ['agentlocal'] } },
  { key: 'daskCheck', label: 'enrolled → Dask present (apt on EC2)', simNote: 'installed in the image: probe only', estimate: { lowS: 14, highS: 40, sources: ['apt'] } },
  { key: 'daskStart', label: 'Dask present on all → running', simNote: 'local: from the last enrolment', estimate: { lowS: 3, highS: 8, sources: ['dask'] } },
  { key: 'credentials', label: 'running → CLI returns', simNote: '', estimate: { lowS: 0.2, highS: 2, sources: ['agentlocal'] } },
  { key: 'total', label: 'total: up → running, as the CLI saw it', simNote: '', estimate: { lowS: 45, highS: 105, sources: ['percival', 'brev', 'apt', 'nodedist'] } },
];

// ── reading the parts' own timestamps ─────────────────────────────────────────────────────────────────────────
interface PinoLine {
  time: number;
  msg: string;
  [k: string]: unknown;
}

function pinoLines(text: string): PinoLine[] {
  const out: PinoLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Partial<PinoLine>;
      if (typeof o.time === 'number' && typeof o.msg === 'string') out.push(o as PinoLine);
    } catch {
      // a Dask line or a partial write: not the agent's or broker's log
    }
  }
  return out;
}

/** `skiff bootstrap: [2025-10-20T12:00:00.123Z] step node` → its time and message. */
function bootLines(text: string): { time: number; msg: string }[] {
  return [...text.matchAll(/^skiff bootstrap: \[([^\]]+)\] (.*)$/gm)].map((m) => ({ time: Date.parse(m[1] ?? ''), msg: m[2] ?? '' }));
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`no ${what}`);
  return v;
}

const at = (lines: readonly PinoLine[], pred: (l: PinoLine) => boolean, what: string): number => need(lines.find(pred), what).time;

/** When a process started (epoch ms), from /proc: its start in clock ticks after boot (USER_HZ 100). */
function processStartMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]); // field 22 of stat(5), counted from field 3 after the comm
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - uptimeS * 1000 + ticks * 10;
}

type Sample = Partial<Record<PhaseKey, number[]>>;
const push = (s: Sample, k: PhaseKey, ms: number): void => void (s[k] ??= []).push(ms / 1000);

// ── the simulator ─────────────────────────────────────────────────────────────────────────────────────────────
interface UpJson {
  id: string;
  state: string;
}

async function simRun(sim: Ec2Sim, s: SimSkiff, ec2: EC2Client, i: number, into: Sample): Promise<void> {
  const name = `boot-${i}`;
  const t0 = Date.now();
  const up = await s.run(['up', '--backend', 'aws', '--workers', '2', '--name', name, '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.large', '--wait-timeout', '5m'], { timeoutMs: 7 * 60_000 });
  const t1 = Date.now();
  if (up.code !== 0) throw new Error(`up failed (exit ${up.code}): ${up.stderr}\n${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`);
  const c = JSON.parse(up.stdout) as UpJson;
  if (c.state !== 'running') throw new Error(`up returned state ${c.state}`);

  const broker = pinoLines(readFileSync(join(s.home, 'broker-stdout.log'), 'utf8')).filter((l) => l['clusterId'] === c.id);
  const starting = at(broker, (l) => l.msg === 'cluster state changed' && l['to'] === 'starting', 'broker line: starting');
  const running = at(broker, (l) => l.msg === 'cluster state changed' && l['to'] === 'running', 'broker line: running');
  const workersLaunched = at(broker, (l) => /^launched \d+ worker/.test(l.msg), 'broker line: workers launched');
  push(into, 'api', starting - t0);
  push(into, 'credentials', t1 - running);
  push(into, 'total', t1 - t0);

  const described = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [c.id] }] }));
  const ids = (described.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((x) => x.InstanceId ?? '');
  if (ids.length !== 3) throw new Error(`expected 3 instances, moto has ${ids.length}`);
  let lastDaskReady = 0;
  for (const id of ids) {
    const vm = need(sim.vm(id), `VM ${id}`);
    const boot = bootLines(vm.bootLog());
    const b = (msg: string) => need(boot.find((l) => l.msg === msg), `boot line "${msg}" of ${id}`).time;
    const journal = pinoLines(vm.journal('skiff-agent'));
    const launched = vm.role === 'scheduler' ? at(broker, (l) => l.msg.startsWith(`launched scheduler ${id} `), `launch line of ${id}`) : workersLaunched;
    // The unit's main process: node running the bundle's entry (the unit-run stand-in around it is bash).
    const agentPid = vm.pids().find((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return /node$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith('/opt/skiff/agent/'));
      } catch {
        return false;
      }
    });
    const agentStart = processStartMs(need(agentPid, `agent process of ${id}`));
    const enrolled = at(journal, (l) => l.msg === 'enrolled', `enrolled line of ${id}`);
    push(into, 'boot', b('start') - launched);
    push(into, 'metadata', b('step node') - b('step metadata'));
    push(into, 'node', b('step bundle') - b('step node'));
    push(into, 'bundle', b('step agent') - b('step bundle'));
    push(into, 'unit', b('agent started') - b('step agent'));
    push(into, 'enrol', enrolled - agentStart);
    const daskReady = at(journal, (l) => l.msg === 'dask present' || l.msg === 'dask installed', `dask line of ${id}`);
    push(into, 'daskCheck', daskReady - enrolled);
    lastDaskReady = Math.max(lastDaskReady, daskReady);
  }
  push(into, 'daskStart', running - lastDaskReady);
  const down = await s.run(['down', name], { timeoutMs: 5 * 60_000 });
  if (down.code !== 0) throw new Error(`down failed: ${down.stderr}`);
  await sim.waitFor(() => ids.every((id) => sim.vm(id)?.state === 'gone'), { timeoutMs: 120_000, what: `the VMs of ${name} gone` });
}

async function simPhases(): Promise<Sample> {
  const into: Sample = {};
  const sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000' } });
  try {
    const s = await startSimSkiff(sim);
    try {
      // A user sets up the account once (shared network, log group); each `up` after that creates only its own.
      const setup = await s.run(['setup', 'aws', '--no-broker', '--json'], { timeoutMs: 5 * 60_000 });
      if (setup.code !== 0) throw new Error(`setup aws failed: ${setup.stderr}`);
      const ec2 = new EC2Client(sim.moto.clientConfig);
      for (let i = 0; i < RUNS; i++) await simRun(sim, s, ec2, i, into);
    } finally {
      await s.stop();
    }
  } finally {
    await sim.stop();
  }
  return into;
}

// ── the baseline: the local backend ───────────────────────────────────────────────────────────────────────────
async function localRun(h: SkiffHome, i: number, into: Sample): Promise<void> {
  const name = `boot-local-${i}`;
  const t0 = Date.now();
  const up = await h.run(['up', '--workers', '2', '--name', name, '--json']);
  const t1 = Date.now();
  if (up.code !== 0) throw new Error(`local up failed: ${up.stderr}`);
  const c = JSON.parse(up.stdout) as UpJson;
  const broker = pinoLines(readFileSync(join(h.home, 'broker/broker.log'), 'utf8')).filter((l) => l['clusterId'] === c.id);
  const starting = at(broker, (l) => l.msg === 'cluster state changed' && l['to'] === 'starting', 'local broker line: starting');
  const running = at(broker, (l) => l.msg === 'cluster state changed' && l['to'] === 'running', 'local broker line: running');
  push(into, 'api', starting - t0);
  push(into, 'daskStart', running - Math.max(...broker.filter((l) => l.msg === 'machine enrolled').map((l) => l.time)));
  push(into, 'credentials', t1 - running);
  push(into, 'total', t1 - t0);
  const dir = join(h.home, 'machines', c.id);
  for (const m of readdirSync(dir)) {
    const pid = Number(readFileSync(join(dir, m, 'agent.pid'), 'utf8'));
    const enrolled = at(pinoLines(readFileSync(join(dir, m, 'agent.log'), 'utf8')), (l) => l.msg === 'enrolled', `enrolled line of local ${m}`);
    push(into, 'enrol', enrolled - processStartMs(pid));
  }
  const down = await h.run(['down', name]);
  if (down.code !== 0) throw new Error(`local down failed: ${down.stderr}`);
}

async function localPhases(): Promise<Sample> {
  const into: Sample = {};
  const h = makeHome('skiff-bench-boot-');
  try {
    // The broker is already up in the simulator's runs: start this one before timing too.
    await h.run(['list']);
    for (let i = 0; i < RUNS; i++) await localRun(h, i, into);
  } finally {
    await h.cleanup();
  }
  return into;
}

// ── report ────────────────────────────────────────────────────────────────────────────────────────────────────
function report(sim: Sample, local: Sample): void {
  const f = (x: number | undefined, d = 2) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
  const range = (e: Estimate) => `${e.lowS < 1 ? e.lowS : e.lowS.toFixed(0)}–${e.highS < 1 ? e.highS : e.highS.toFixed(0)}`;
  const ids = Object.keys(SOURCES) as SourceId[];
  const cols = ['phase'.padEnd(40), 'sim s'.padStart(7), 'n'.padStart(3), 'local s'.padStart(8), 'sim/local'.padStart(9), 'real AWS s'.padStart(11), ' sources', '  sim differs'];
  process.stdout.write(`${cols.join(' ')}\n`);
  for (const p of PHASES) {
    const sv = sim[p.key];
    const lv = local[p.key];
    const sm = sv ? median(sv) : undefined;
    const lm = lv ? median(lv) : undefined;
    const ratio = sm !== undefined && lm !== undefined && lm > 0 ? (sm / lm).toFixed(2) : '–';
    const src = p.estimate.sources.map((s) => `[${ids.indexOf(s) + 1}]`).join('');
    process.stdout.write(
      `${p.label.padEnd(40)} ${f(sm).padStart(7)} ${String(sv?.length ?? 0).padStart(3)} ${f(lm).padStart(8)} ${ratio.padStart(9)} ${range(p.estimate).padStart(11)}  ${src.padEnd(12)} ${p.simNote}\n`,
    );
  }
  const total = sim.total ?? [];
  process.stdout.write(`(sim runs, total s: ${total.map((x) => x.toFixed(1)).join(', ')}; baseline: local backend, same run, same machine; medians)\n`);
  process.stdout.write('peers on real clouds, up to a running cluster: Coiled "about a minute" / 1–2 min claimed, 2.25–3 min measured [9]; dask-cloudprovider EC2Cluster ~4+ min [10]\n');
  process.stdout.write('sources:\n');
  ids.forEach((id, n) => process.stdout.write(`  [${n + 1}] ${SOURCES[id]}\n`));
}

const simSample = await simPhases();
const localSample = await localPhases();
report(simSample, localSample);
