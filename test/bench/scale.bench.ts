// Scaling, each figure beside a baseline from the same run:
//  - API calls (and wall time) of one aws scale step of +1, +10 and +100 workers against moto: the +1 step is
//    the baseline, and the number of calls must not grow with the step's size (one CreateFleet per step);
//  - local scale-up latency, `skiff scale NAME N+1` until Dask counts the new worker, against `skiff up --workers 1`
//    of the same home until its worker is connected (a machine's start, which a scale step cannot go below).
//  The simulator's scale-up latency is measured by test/integration/aws-sim-scale.test.ts's run, not here: a
//  simulated VM's boot (apt stand-ins, the bundle download) dominates it and it needs root for its namespaces.
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { startMoto } from '../helpers/moto.js';
import { startServiceQuotas } from '../helpers/service-quotas.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend } from '../../provisioner/aws/aws-backend.js';
import { awsTestDeps, awsTestSpec } from '../helpers/aws.js';
import { makeHome } from '../helpers/skiff.js';

const pad = (s: string, n: number) => s.padStart(n);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function awsSteps(): Promise<void> {
  const moto = await startMoto();
  const quotas = await startServiceQuotas({ quotas: { 'L-1216C47A': 100_000, 'L-34B43A08': 100_000, 'L-DB2E81BA': 0, 'L-3819A6DF': 0, 'L-417A185B': 0, 'L-7212CCBC': 0 } });
  try {
    const sq = new ServiceQuotasClient({ ...moto.clientConfig, endpoint: quotas.endpoint });
    const ins = instrumentPort(createSdkPort({ ec2: new EC2Client(moto.clientConfig), logs: new CloudWatchLogsClient(moto.clientConfig), quotas: sq }));
    const backend = createAwsBackend({ ...awsTestDeps(ins.port), waitTimeoutMs: 600_000 });
    const spec = awsTestSpec('bench-scale', 1);
    const plan = await backend.plan(spec);
    await backend.apply(spec, plan);
    const rows: { step: number; calls: number; fleets: number; ms: number; shrinkCalls: number }[] = [];
    // The first +1 warms up moto and the SDK and is not reported.
    for (const step of [1, 1, 10, 100]) {
      ins.reset();
      const t0 = performance.now();
      const out = await backend.grow(spec, plan, step);
      const ms = performance.now() - t0;
      const calls = ins.actions.length;
      const fleets = ins.actions.filter((a) => a === 'createFleet').length;
      if (out.machines.length !== step) throw new Error(`+${step}: ${out.machines.length} workers launched`);
      ins.reset();
      await backend.shrink(plan, out.machines.map((m) => m.id));
      rows.push({ step, calls, fleets, ms, shrinkCalls: ins.actions.length });
    }
    rows.shift();
    const base = rows[0];
    if (!base) throw new Error('no baseline');
    process.stdout.write(`${pad('step', 6)} ${pad('API calls', 10)} ${pad('ratio', 6)} ${pad('CreateFleet', 12)} ${pad('ms', 7)} ${pad('ratio', 6)} ${pad('shrink calls', 13)}\n`);
    for (const r of rows) {
      process.stdout.write(`${pad(`+${r.step}`, 6)} ${pad(String(r.calls), 10)} ${pad((r.calls / base.calls).toFixed(2), 6)} ${pad(String(r.fleets), 12)} ${pad(r.ms.toFixed(0), 7)} ${pad((r.ms / base.ms).toFixed(2), 6)} ${pad(String(r.shrinkCalls), 13)}\n`);
    }
    process.stdout.write('(baseline: the +1 step, same run, same moto)\n');
    if (rows.some((r) => r.calls !== base.calls || r.fleets !== 1)) throw new Error('the API calls of a scale step grew with its size');
  } finally {
    await quotas.stop();
    await moto.stop();
  }
}

async function localLatency(): Promise<void> {
  const h = makeHome('skiff-bench-scale-');
  Object.assign(h.env, { SKIFF_SCALE_POLL_MS: '200', SKIFF_SCALE_INTERVAL_MS: '1000' });
  try {
    const up: number[] = [];
    const scale: number[] = [];
    for (let i = 0; i < 3; i++) {
      let t0 = performance.now();
      const r = await h.run(['up', '--workers', '1', '--worker-threads', '1', '--name', `bench-${i}`]);
      up.push((performance.now() - t0) / 1000);
      if (r.code !== 0) throw new Error(`up failed: ${r.stderr}`);
      for (const n of [2, 3]) {
        t0 = performance.now();
        const s = await h.run(['scale', `bench-${i}`, String(n)]);
        scale.push((performance.now() - t0) / 1000);
        if (s.code !== 0) throw new Error(`scale failed: ${s.stderr}`);
      }
      await h.run(['down', `bench-${i}`]);
    }
    process.stdout.write(`local: scale +1 until Dask counts the worker  median ${median(scale).toFixed(2)} s  (${scale.map((x) => x.toFixed(2)).join(', ')})\n`);
    process.stdout.write(`local: up --workers 1 until connected (baseline) median ${median(up).toFixed(2)} s  (${up.map((x) => x.toFixed(2)).join(', ')})\n`);
    process.stdout.write(`ratio scale/up: ${(median(scale) / median(up)).toFixed(2)} (both from the CLI's start, a Node start included)\n`);
  } finally {
    await h.cleanup();
  }
}

await awsSteps();
await localLatency();
