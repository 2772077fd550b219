// The EC2 machine simulator itself, through real moto, real namespaces and a real user-data: what an aws test
// relies on when it boots skiff's machines through it.
import t from 'tap';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { execFileSync } from 'node:child_process';
import { createVerify } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startEc2Sim, type Ec2Sim, type VmInfo } from '../sim/ec2-sim.js';
import { OS_RELEASE } from '../sim/images.js';

// Reads IMDSv2 as a boot script would, then runs two units: "web" on 443 (its port from an EnvironmentFile,
// with a child in its session and one that starts its own) and "dask" on 8786.
const USER_DATA = String.raw`#!/bin/bash
set -euo pipefail
IMDS=http://169.254.169.254/latest
echo "imdsv1 status: $(curl -s -o /dev/null -w '%{http_code}' "$IMDS/meta-data/instance-id")"
TOKEN="$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/api/token")"
md() { curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/$1"; }
echo "instance-id: $(md meta-data/instance-id)"
echo "identity document: $(md dynamic/instance-identity/document | tr -d '\n')"
mkdir -p /etc/web
cat > /etc/web/web.env <<'ENV'
# the service's settings
PORT=443
GREETING="hello world"
ENV
cat > /etc/systemd/system/web.service <<'UNIT'
[Unit]
Description=test web server

[Service]
EnvironmentFile=/etc/web/web.env
Environment=ROLE=web "MOTTO=as systemd splits it"
ExecStart=/bin/bash -c 'sleep 1000 & setsid sleep 1001 & exec /usr/bin/python3 -m http.server ${'${PORT}'}'
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/dask.service <<'UNIT'
[Service]
ExecStart=/usr/bin/python3 -m http.server 8786
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now web.service dask.service
echo "user-data done"
`;

// On an image with a profile: what the boot path would see there.
const PROBE_USER_DATA = `#!/bin/bash
echo "node --version: $(node --version)"
echo "process.versions.node: $(node -e 'process.stdout.write(process.versions.node)')"
. /etc/os-release
echo "os-release: $ID $VERSION_ID"
command -v apt-get || echo "apt-get: not found"
`;

interface Fixture {
  sim: Ec2Sim;
  ec2: EC2Client;
  scheduler: VmInfo;
  worker: VmInfo;
  probe: VmInfo;
  /** Launched by an instant EC2 Fleet from a launch template that names the profile and shutdown → terminate. */
  fleetVm: VmInfo;
}

async function setUp(): Promise<Fixture> {
  const sim = await startEc2Sim({
    unitEnv: { SKIFF_TELEMETRY_INTERVAL_MS: '500' },
    images: { 'al2023-ami-': { osRelease: OS_RELEASE.al2023, nodeVersion: '18.19.0', remove: ['/usr/bin/apt-get'] } },
  });
  const ec2 = new EC2Client(sim.moto.clientConfig);
  const iam = new IAMClient(sim.moto.clientConfig);
  await iam.send(new CreateRoleCommand({ RoleName: 'skiff-agent', AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}' }));
  await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'skiff-agent' }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'skiff-agent', RoleName: 'skiff-agent' }));
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc?.VpcId;
  const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'us-east-1b' }))).Subnet?.SubnetId;
  const group = async (name: string) => (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: name, Description: name }))).GroupId ?? '';
  const publicGroup = await group('scheduler');
  const clusterGroup = await group('cluster');
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: publicGroup, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: clusterGroup, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: clusterGroup }] }] }));
  const launch = (role: string, groups: string[], imageId = 'ami-0d5d9d301c853a04a', userData = USER_DATA) =>
    ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm6i.large',
        MinCount: 1,
        MaxCount: 1,
        UserData: Buffer.from(userData).toString('base64'),
        InstanceInitiatedShutdownBehavior: 'terminate',
        IamInstanceProfile: { Name: 'skiff-agent' },
        NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet, AssociatePublicIpAddress: true, Groups: groups }],
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'owner', Value: 'skiff' }, { Key: 'skiff:role', Value: role }] }],
      }),
    );
  await launch('scheduler', [publicGroup, clusterGroup]);
  await launch('worker', [clusterGroup]);
  await launch('probe', [clusterGroup], 'ami-07860a2d7eb515d9a', PROBE_USER_DATA);
  const template = await ec2.send(new CreateLaunchTemplateCommand({
    LaunchTemplateName: 'fleet-workers',
    LaunchTemplateData: {
      ImageId: 'ami-0d5d9d301c853a04a',
      UserData: Buffer.from('#!/bin/bash\necho "fleet user-data done"\n').toString('base64'),
      InstanceInitiatedShutdownBehavior: 'terminate',
      IamInstanceProfile: { Name: 'skiff-agent' },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'owner', Value: 'skiff' }, { Key: 'skiff:role', Value: 'fleet' }] }],
    },
  }));
  await ec2.send(new CreateFleetCommand({
    Type: 'instant',
    TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'on-demand' },
    LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: template.LaunchTemplate?.LaunchTemplateId, Version: '$Latest' }, Overrides: [{ InstanceType: 'm6i.large', SubnetId: subnet }] }],
  }));
  const [scheduler] = await sim.waitForVms(1, { role: 'scheduler', timeoutMs: 30_000 });
  const [worker] = await sim.waitForVms(1, { role: 'worker', timeoutMs: 30_000 });
  const [probe] = await sim.waitForVms(1, { role: 'probe', timeoutMs: 30_000 });
  const [fleetVm] = await sim.waitForVms(1, { role: 'fleet', timeoutMs: 30_000 });
  if (!scheduler || !worker || !probe || !fleetVm) throw new Error('unreachable: waitForVms returned fewer VMs');
  return { sim, ec2, scheduler, worker, probe, fleetVm };
}

// Processes by pid and start time (pids are reused: 32768 of them go round fast on a busy machine).
const startTime = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
  } catch {
    return undefined;
  }
};
const tracked = new Map<number, string>();
const track = (pids: readonly number[]) => {
  for (const p of pids) {
    const st = startTime(p);
    if (st !== undefined) tracked.set(p, st);
  }
};
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
  } catch {
    return '(just exited)';
  }
};
/** A zombie has exited: it only waits for its parent to reap it (its cmdline is empty meanwhile). */
const isZombie = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') === true;
  } catch {
    return true;
  }
};
const stillRunning = () => [...tracked].filter(([p, st]) => startTime(p) === st && !isZombie(p)).map(([p]) => `${p}: ${cmdline(p)}`);

const started = Date.now();
const { sim, ec2, scheduler, worker, probe, fleetVm } = await setUp();
t.teardown(() => sim.stop());
track([...scheduler.pids(), ...worker.pids(), ...probe.pids(), ...fleetVm.pids()]);

/** curl against IMDSv2 inside a VM; prints the HTTP status on the last line. */
async function imds(vm: VmInfo, path: string): Promise<{ status: number; body: string }> {
  const script = 'T=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token); curl -s -w "\\n%{http_code}" -H "X-aws-ec2-metadata-token: $T" "http://169.254.169.254/latest/$0"';
  const r = await sim.vmExec(vm.instanceId, 'bash', ['-c', script, path]);
  const lines = r.stdout.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

const mainPid = async (vm: VmInfo, unit: string) => Number((await sim.vmExec(vm.instanceId, 'cat', [`/run/skiff-sim/units/${unit}/main.pid`])).stdout.trim());

t.test('boots each launched instance and runs its user-data unchanged, which reads IMDSv2', async (t) => {
  t.equal(scheduler.userDataExit, 0, `user-data exited 0\n${sim.diagnostics()}`);
  const log = scheduler.bootLog();
  t.match(log, 'imdsv1 status: 401', 'a GET without a token is refused, as with HttpTokens=required');
  t.match(log, `instance-id: ${scheduler.instanceId}`);
  t.match(log, new RegExp(`"instanceId" : "${scheduler.instanceId}".*"privateIp" : "${scheduler.privateIp.replace(/\./g, '\\.')}"`));
  t.match(log, /Cloud-init v\. .* finished at/, 'the log ends as cloud-init ends it');
  t.match(log, 'Created symlink /etc/systemd/system/multi-user.target.wants/web.service');
  t.equal((await sim.vmExec(scheduler.instanceId, 'hostname', [])).stdout.trim(), `ip-${scheduler.privateIp.replace(/\./g, '-')}`);
  t.equal((await imds(scheduler, 'meta-data/placement/availability-zone')).body, 'us-east-1b');
  t.equal((await imds(scheduler, 'meta-data/public-ipv4')).body, scheduler.publicIp);
});

t.test('answers 443 on the public address where the group allows it from anywhere, and not 8786 that listens there too', async (t) => {
  const publicIp = scheduler.publicIp ?? '';
  t.ok(await sim.canConnect(publicIp, 443, 3000), '443 connects from the outer namespace');
  t.notOk(await sim.canConnect(publicIp, 8786, 1500), '8786 does not');
  t.equal((await sim.vmExec(scheduler.instanceId, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8786/'])).stdout, '200', 'yet 8786 answers inside the VM');
});

t.test('keeps a machine without the public rule unreachable from outside, but reachable from its cluster group', async (t) => {
  t.notOk(await sim.canConnect(worker.publicIp ?? '', 443, 1500), 'not on its public address');
  t.notOk(await sim.canConnect(worker.privateIp, 443, 1500), 'not on its private address either');
  t.ok(await sim.canConnect(worker.privateIp, 443, 3000, { from: scheduler.instanceId }), 'the scheduler reaches it (self rule of the cluster group)');
  t.ok(await sim.canConnect(scheduler.privateIp, 8786, 3000, { from: worker.instanceId }), 'and it reaches the scheduler on any port');
});

t.test("gives a service its EnvironmentFile, Environment and the simulator's unit environment", async (t) => {
  const pid = await mainPid(scheduler, 'web.service');
  const env = (await sim.vmExec(scheduler.instanceId, 'cat', [`/proc/${pid}/environ`])).stdout.split('\0');
  for (const kv of ['PORT=443', 'GREETING=hello world', 'ROLE=web', 'MOTTO=as systemd splits it', `AWS_ENDPOINT_URL=${sim.moto.endpoint}`, 'SKIFF_TELEMETRY_INTERVAL_MS=500']) t.ok(env.includes(kv), kv);
  t.ok(env.some((kv) => /^INVOCATION_ID=[0-9a-f]{32}$/.test(kv)), 'an INVOCATION_ID, as systemd sets');
  t.notOk(env.some((kv) => kv.startsWith('AWS_EC2_METADATA_DISABLED')), 'no AWS_EC2_METADATA_DISABLED in a VM');
});

t.test('restarts a service killed with SIGKILL (Restart=always) after killing every process it had started', async (t) => {
  const before = await mainPid(scheduler, 'web.service');
  const children = (await sim.vmExec(scheduler.instanceId, 'pgrep', ['-f', '^sleep 100[01]$'])).stdout.trim().split('\n').map(Number);
  t.equal(children.length, 2, 'a child in its session and one in a session of its own');
  await sim.vmExec(scheduler.instanceId, 'kill', ['-9', String(before)]);
  const after = await sim.waitFor(
    async () => {
      const pid = await mainPid(scheduler, 'web.service').catch(() => 0);
      const active = (await sim.vmExec(scheduler.instanceId, 'systemctl', ['is-active', 'web'])).stdout.trim() === 'active';
      return pid && pid !== before && active ? pid : undefined;
    },
    { timeoutMs: 15_000, what: 'web.service to be restarted' },
  );
  t.not(after, before, 'a new main process');
  const alive = await sim.vmExec(scheduler.instanceId, 'bash', ['-c', 'for p in "$@"; do [ -d /proc/$p ] && echo $p; done; true', '_', ...children.map(String)]);
  t.equal(alive.stdout.trim(), '', 'the old children are gone');
  t.ok(await sim.waitFor(() => sim.canConnect(scheduler.publicIp ?? '', 443, 1000), { timeoutMs: 10_000, what: '443 to answer again' }));
  const journal = scheduler.journal('web');
  t.match(journal, 'web.service: Main process exited, code=killed, status=9/KILL');
  t.match(journal, 'web.service: Scheduled restart job, restart counter is at 1.');
});

t.test('signs the identity document so that it verifies against the simulator certificate, as AWS documents', async (t) => {
  const doc = (await imds(scheduler, 'dynamic/instance-identity/document')).body;
  const parsed = JSON.parse(doc) as { pendingTime: string };
  t.match(parsed.pendingTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'pendingTime in seconds, as AWS writes it');
  t.same(parsed, {
    accountId: '123456789012',
    architecture: 'x86_64',
    availabilityZone: 'us-east-1b',
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: 'ami-0d5d9d301c853a04a',
    instanceId: scheduler.instanceId,
    instanceType: 'm6i.large',
    kernelId: null,
    pendingTime: parsed.pendingTime,
    privateIp: scheduler.privateIp,
    ramdiskId: null,
    region: 'us-east-1',
    version: '2017-09-30',
  });
  const signature = (await imds(scheduler, 'dynamic/instance-identity/signature')).body;
  t.ok(createVerify('sha256').update(doc).verify(sim.identityCertPem, signature, 'base64'), 'signature: RSA over SHA-256');
  const dir = mkdtempSync(join(tmpdir(), 'sim-test-iid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const kind of ['pkcs7', 'rsa2048']) {
    const body = (await imds(scheduler, `dynamic/instance-identity/${kind}`)).body;
    writeFileSync(join(dir, kind), `-----BEGIN PKCS7-----\n${body}\n-----END PKCS7-----\n`);
    const content = execFileSync('openssl', ['smime', '-verify', '-in', join(dir, kind), '-inform', 'PEM', '-certfile', sim.identityCertPath, '-noverify'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.equal(content.toString(), doc, `${kind}: openssl smime -verify gives back the document`);
  }
});

t.test("hands out the instance profile's role credentials, which moto accepts from inside the VM", async (t) => {
  t.equal((await imds(scheduler, 'meta-data/iam/security-credentials/')).body, 'skiff-agent');
  const creds = JSON.parse((await imds(scheduler, 'meta-data/iam/security-credentials/skiff-agent')).body) as Record<string, string>;
  t.match(creds, { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: /^ASIA/, SecretAccessKey: /.+/, Token: /.+/, Expiration: /Z$/ });
  const r = await sim.vmExec(scheduler.instanceId, 'curl', [
    '-fsS',
    '--aws-sigv4',
    'aws:amz:us-east-1:ec2',
    '--user',
    `${creds['AccessKeyId']}:${creds['SecretAccessKey']}`,
    '-H',
    `X-Amz-Security-Token: ${creds['Token']}`,
    '-d',
    'Action=DescribeRegions&Version=2016-11-15',
    `${sim.moto.endpoint}/`,
  ]);
  t.match(r.stdout, '<regionName>us-east-1</regionName>', `a signed DescribeRegions reaches moto: ${r.stderr}`);
});

t.test("gives an EC2 Fleet instance its launch template's instance profile, which moto does not record", async (t) => {
  const recorded = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [fleetVm.instanceId] }))).Reservations?.[0]?.Instances?.[0];
  t.equal(recorded?.IamInstanceProfile, undefined, 'moto records no profile on the Fleet instance (what the simulator makes up for)');
  t.match(fleetVm.bootLog(), 'fleet user-data done', 'the template\'s user-data ran');
  t.equal((await imds(fleetVm, 'meta-data/iam/security-credentials/')).body, 'skiff-agent', 'IMDS names the template\'s role');
  const creds = JSON.parse((await imds(fleetVm, 'meta-data/iam/security-credentials/skiff-agent')).body) as Record<string, string>;
  t.match(creds, { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: /^ASIA/ });
  t.match(JSON.parse((await imds(fleetVm, 'meta-data/iam/info')).body), { InstanceProfileArn: /:instance-profile\/skiff-agent$/ });
});

t.test('serves spot/instance-action only once a notice is set, in the documented JSON', async (t) => {
  t.equal((await imds(scheduler, 'meta-data/spot/instance-action')).status, 404);
  t.equal((await imds(scheduler, 'meta-data/events/recommendations/rebalance')).status, 404);
  await sim.setSpotAction(scheduler.instanceId, { action: 'terminate', time: '2025-10-06T12:02:00Z' });
  await sim.setRebalanceRecommendation(scheduler.instanceId, '2025-10-06T12:00:00Z');
  const notice = await imds(scheduler, 'meta-data/spot/instance-action');
  t.equal(notice.body, '{"action": "terminate", "time": "2025-10-06T12:02:00Z"}');
  t.same(JSON.parse((await imds(scheduler, 'meta-data/events/recommendations/rebalance')).body), { noticeTime: '2025-10-06T12:00:00Z' });
});

t.test("finds the simulator's public images by owner and name pattern, and none of moto's regional latest_amis", async (t) => {
  const find = async (owner: string, pattern: string, arch = 'x86_64') =>
    (await ec2.send(new DescribeImagesCommand({ Owners: [owner], Filters: [{ Name: 'name', Values: [pattern] }, { Name: 'architecture', Values: [arch] }] }))).Images ?? [];
  const newest = (images: Awaited<ReturnType<typeof find>>) => [...images].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0]?.Name;
  t.equal(newest(await find('136693071363', 'debian-12-amd64-*')), 'debian-12-amd64-20251006-2257');
  t.equal(newest(await find('136693071363', 'debian-12-arm64-*', 'arm64')), 'debian-12-arm64-20251006-2257');
  t.equal(newest(await find('099720109477', 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*')), 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251001');
  t.equal(newest(await find('amazon', 'al2023-ami-2023.*-kernel-*-x86_64')), 'al2023-ami-2023.9.20251014.0-kernel-6.1-x86_64', 'the newest, not the minimal variant');
  t.equal(newest(await find('amazon', 'Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) *')), 'Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20251010');
  const motoDir = execFileSync('python3', ['-c', 'import moto, os; print(os.path.dirname(moto.__file__))'], { encoding: 'utf8' }).trim();
  const latest = JSON.parse(gunzipSync(readFileSync(join(motoDir, 'ec2/resources/latest_amis/us-east-1.json.gz'))).toString()) as Array<{ ami_id: string }>;
  await t.rejects(ec2.send(new DescribeImagesCommand({ ImageIds: [latest[0]?.ami_id ?? ''] })), { name: /InvalidAMIID/ }, 'latest_amis are not loaded');
});

t.test("boots an image's profile: its os-release, a Node that reports 18, a missing apt-get; the host keeps its own", async (t) => {
  const log = probe.bootLog();
  t.match(log, 'node --version: v18.19.0');
  t.match(log, 'process.versions.node: 18.19.0');
  t.match(log, 'os-release: amzn 2023');
  t.match(log, 'apt-get: not found');
  t.ok(existsSync('/usr/bin/apt-get'), 'the host still has apt-get');
  t.equal(execFileSync('node', ['--version'], { encoding: 'utf8' }).trim(), process.version, "and the host's node is untouched");
});

const instanceState = async (id: string) => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
const netnsExists = (name: string) => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').some((l) => l.split(' ')[0] === name);

t.test('terminates the instance in moto when its guest runs shutdown -h now, and removes the VM', async (t) => {
  track(worker.pids());
  await sim.vmExec(worker.instanceId, 'shutdown', ['-h', 'now']);
  await sim.waitFor(async () => (await instanceState(worker.instanceId)) === 'terminated' && sim.vm(worker.instanceId)?.state === 'gone', { timeoutMs: 15_000, what: 'the worker terminated and its VM gone' });
  t.match(sim.vm(worker.instanceId)?.goneReason, /guest poweroff; instance terminated in moto/);
  t.notOk(netnsExists(worker.netns), 'its network namespace is deleted');
  t.same(sim.vm(worker.instanceId)?.pids(), []);
});

t.test("terminates an EC2 Fleet instance whose guest powers off, as its launch template says (moto's attribute says stop)", async (t) => {
  track(fleetVm.pids());
  await sim.vmExec(fleetVm.instanceId, 'shutdown', ['-h', 'now']);
  await sim.waitFor(async () => sim.vm(fleetVm.instanceId)?.state === 'gone' && (await instanceState(fleetVm.instanceId)) !== 'running', { timeoutMs: 15_000, what: 'the fleet VM gone' });
  t.equal(await instanceState(fleetVm.instanceId), 'terminated', 'terminated in moto, not stopped');
  t.match(sim.vm(fleetVm.instanceId)?.goneReason, /guest poweroff; instance terminated in moto/);
});

t.test('kills the VM when the test terminates its instance in moto', async (t) => {
  track([...scheduler.pids(), ...probe.pids()]);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [scheduler.instanceId, probe.instanceId] }));
  await sim.waitFor(() => sim.vm(scheduler.instanceId)?.state === 'gone' && sim.vm(probe.instanceId)?.state === 'gone', { timeoutMs: 10_000, what: 'the scheduler and probe VMs gone' });
  t.notOk(netnsExists(scheduler.netns));
  t.notOk(await sim.canConnect(scheduler.publicIp ?? '', 443, 1000), 'nothing answers on its address');
  t.same(stillRunning(), [], 'none of their processes is left');
});

t.test('leaves no namespace, process, mount or temp dir after stop', async (t) => {
  const outer = execFileSync('ip', ['netns', 'pids', sim.outerNs], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  t.ok(outer.length >= 2, 'the daemon and moto ran in the outer namespace');
  track(outer);
  await sim.stop();
  t.notOk(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`ssim-${sim.id}`), 'no namespace of this simulator');
  t.same(stillRunning(), [], 'no process of the simulator or its VMs');
  t.notOk(readFileSync('/proc/mounts', 'utf8').includes(sim.stateRoot), 'no mount under its temp dir');
  t.notOk(existsSync(sim.stateRoot), 'its temp dir is removed');
  t.ok(Date.now() - started < 90_000, `the whole file took ${Math.round((Date.now() - started) / 1000)} s`);
});
