// API calls and control-plane wall time of `up` (first cluster: network included) and `down` for 1, 100 and
// 1000 workers against moto, in the same run. The baseline is the 1-worker cluster; the number of calls must
// not grow with the worker count (only with instance types × capacity types tried). plan() reads the vCPU quotas
// from the Service Quotas stand-in (moto has none; without it plan() would log them unreadable and skip the check),
// sized so that 1000 workers fit.
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { startMoto } from '../helpers/moto.js';
import { startServiceQuotas } from '../helpers/service-quotas.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend } from '../../provisioner/aws/aws-backend.js';
import { awsTestDeps, awsTestSpec } from '../helpers/aws.js';

const moto = await startMoto();
const quotas = await startServiceQuotas({ quotas: { 'L-1216C47A': 100_000, 'L-34B43A08': 100_000, 'L-DB2E81BA': 0, 'L-3819A6DF': 0, 'L-417A185B': 0, 'L-7212CCBC': 0 } });
try {
  const sq = new ServiceQuotasClient({ ...moto.clientConfig, endpoint: quotas.endpoint });
  const ins = instrumentPort(createSdkPort({ ec2: new EC2Client(moto.clientConfig), logs: new CloudWatchLogsClient(moto.clientConfig), quotas: sq }));
  // Terminating 1000 instances takes moto a while: the backend's own wait bound, not the tests' 30 s.
  const backend = createAwsBackend({ ...awsTestDeps(ins.port), waitTimeoutMs: 600_000 });
  const rows: { workers: number; upCalls: number; upMs: number; downCalls: number; downMs: number }[] = [];
  // The first pass (1 worker) warms up moto and the SDK and is not reported.
  for (const workers of [1, 1, 100, 1000]) {
    await moto.reset();
    const spec = awsTestSpec(`bench-${workers}`, workers);
    const asked = quotas.requests.length;
    const plan = await backend.plan(spec);
    if (quotas.requests.length === asked) throw new Error('plan() read no vCPU quota');
    ins.reset();
    let t0 = performance.now();
    const machines = await backend.apply(spec, plan);
    const upMs = performance.now() - t0;
    const upCalls = ins.actions.length;
    if (machines.length !== workers + 1) throw new Error(`expected ${workers + 1} machines, got ${machines.length}`);
    ins.reset();
    t0 = performance.now();
    await backend.destroy(plan);
    rows.push({ workers, upCalls, upMs, downCalls: ins.actions.length, downMs: performance.now() - t0 });
  }
  rows.shift();
  const base = rows[0];
  if (!base) throw new Error('no baseline');
  const pad = (s: string, n: number) => s.padStart(n);
  process.stdout.write(`${pad('workers', 8)} ${pad('up calls', 9)} ${pad('ratio', 6)} ${pad('up ms', 8)} ${pad('ratio', 6)} ${pad('down calls', 11)} ${pad('ratio', 6)} ${pad('down ms', 8)} ${pad('ratio', 6)}\n`);
  for (const r of rows) {
    process.stdout.write(
      `${pad(String(r.workers), 8)} ${pad(String(r.upCalls), 9)} ${pad((r.upCalls / base.upCalls).toFixed(2), 6)} ${pad(r.upMs.toFixed(0), 8)} ${pad((r.upMs / base.upMs).toFixed(2), 6)} ` +
        `${pad(String(r.downCalls), 11)} ${pad((r.downCalls / base.downCalls).toFixed(2), 6)} ${pad(r.downMs.toFixed(0), 8)} ${pad((r.downMs / base.downMs).toFixed(2), 6)}\n`,
    );
  }
  process.stdout.write('(baseline: the 1-worker row, same run, same moto; wall time is mostly moto creating and terminating instances)\n');
  // up: constant. down: constant but for TerminateInstances batches of 1000 ids (an EC2 limit per call).
  if (rows.some((r) => r.upCalls !== base.upCalls || r.downCalls - base.downCalls > Math.ceil((r.workers + 1) / 1000) - 1)) {
    throw new Error('the number of API calls grew with the worker count');
  }
} finally {
  await quotas.stop();
  await moto.stop();
}
