import t, { type Test } from 'tap';
import { isSkiffError } from '../../../../broker/api/errors.js';
import { parseAwsOptions } from '../../../../provisioner/plan/aws-options.js';

function refuses(t: Test, options: Record<string, unknown>, message: RegExp): void {
  try {
    parseAwsOptions(options);
    t.fail(`accepted ${JSON.stringify(options)}`);
  } catch (err) {
    t.ok(isSkiffError(err, 'PRV_INVALID_REQUEST'), 'PRV_INVALID_REQUEST');
    t.match((err as Error).message, message, JSON.stringify(options));
  }
}


t.test('defaults: us-east-1 with no zone pinned, 443 and 22, on-demand, no GPU, private workers, all workers required', async (t) => {
  const o = parseAwsOptions(undefined);
  t.equal(o.region, 'us-east-1');
  t.equal(o.zone, undefined, 'plan() picks the first zone the account has');
  t.equal(o.minWorkers, undefined);
  t.same(o.firewall, { ports: [22, 443], cidr: '0.0.0.0/0' });
  t.equal(o.spotPolicy, 'on-demand');
  t.equal(o.workerGpu, 0);
  t.equal(o.giveWorkersPublicIp, false);
  t.equal(o.logRetentionDays, 30);
  t.equal(o.network, undefined);
});

t.test('refuses each bad value naming it and the valid choices', async (t) => {
  refuses(t, { region: 'mars-north-1' }, /mars-north-1.*valid regions: us-east-1, us-east-2/);
  refuses(t, { region: 'us-east-2', zone: 'us-east-1a' }, /zone "us-east-1a" is not in region us-east-2; its zones are named us-east-2 and a letter, e.g. us-east-2a/);
  refuses(t, { zone: 'us-east-1-bos-1a' }, /zone "us-east-1-bos-1a" is not in region us-east-1/);
  refuses(t, { worker_gpu: 2 }, /worker_gpu 2 .*at most one GPU; use 0 or 1/);
  refuses(t, { firewall: { ports: [443], cidr: '10.0.0.0/33' } }, /firewall.cidr "10.0.0.0\/33".*prefix length/);
  refuses(t, { firewall: { ports: [70000] } }, /firewall port 70000 .*1 to 65535/);
  refuses(t, { firewall: { ports: [0] } }, /firewall port 0/);
  refuses(t, { firewall: { ports: [] } }, /firewall.ports must be a list of 1 to 20/);
  refuses(t, { spot_policy: 'cheap' }, /spot_policy "cheap".*on-demand, spot, spot_with_fallback/);
  refuses(t, { worker_vm_types: [] }, /worker_vm_types must be a non-empty list/);
  refuses(t, { scheduler_vm_types: ['M5 LARGE'] }, /"M5 LARGE" is not an instance type/);
  refuses(t, { network_id: 'vpc-12345678', scheduler_subnet_id: 'subnet-12345678' }, /missing: worker_subnet_id, scheduler_firewall_id, firewall_id/);
  refuses(
    t,
    { network_id: 'arn:aws:ec2:us-east-1:1:vpc/vpc-1', scheduler_subnet_id: 'subnet-12345678', worker_subnet_id: 'subnet-12345678', scheduler_firewall_id: 'sg-12345678', firewall_id: 'sg-12345678' },
    /takes an id .* not an ARN/,
  );
  refuses(
    t,
    { network_id: 'vpc-12345678', scheduler_subnet_id: 'sg-12345678', worker_subnet_id: 'subnet-12345678', scheduler_firewall_id: 'sg-12345678', firewall_id: 'sg-12345678' },
    /scheduler_subnet_id "sg-12345678" is not a subnet id/,
  );
  refuses(t, { tags: { owner: 'me' } }, /reserved/);
  refuses(t, { tags: { 'skiff:cluster': 'x' } }, /reserved/);
  refuses(t, { ssh_from: 'my-laptop' }, /ssh_from .*IPv4 address/);
  refuses(t, { vpc_cidr: '10.0.0.0/8' }, /\/16 to \/24/);
  refuses(t, { log_retention_days: 31 }, /log_retention_days 31/);
  refuses(t, { regoin: 'us-east-1' }, /unknown aws option "regoin"; valid options: region/);
  refuses(t, { ami: 'ubuntu' }, /ami "ubuntu" is not an image id/);
});

t.test('accepts a bring-your-own network with the same subnet for both roles', async (t) => {
  const o = parseAwsOptions({
    network_id: 'vpc-0123456789abcdef0',
    scheduler_subnet_id: 'subnet-12345678',
    worker_subnet_id: 'subnet-12345678',
    scheduler_firewall_id: 'sg-12345678',
    firewall_id: 'sg-87654321',
  });
  t.same(o.network, { networkId: 'vpc-0123456789abcdef0', schedulerSubnetId: 'subnet-12345678', workerSubnetId: 'subnet-12345678', schedulerFirewallId: 'sg-12345678', firewallId: 'sg-87654321' });
});

t.test('GPU workers default to single-GPU instance types', async (t) => {
  const o = parseAwsOptions({ worker_gpu: 1 });
  t.same(o.workerVmTypes, ['g4dn.xlarge', 'g5.xlarge']);
});

t.test('ssh_from accepts an address or its /32', async (t) => {
  t.equal(parseAwsOptions({ ssh_from: '203.0.113.7/32' }).sshFrom, '203.0.113.7');
  t.equal(parseAwsOptions({ ssh_from: '203.0.113.7' }).sshFrom, '203.0.113.7');
});

t.test('a zone of the region is taken as written; whether the account has it is checked by plan()', async (t) => {
  t.equal(parseAwsOptions({ region: 'us-west-1', zone: 'us-west-1c' }).zone, 'us-west-1c');
});

t.test('min_workers is a whole number from 0 to the workers asked for', async (t) => {
  t.equal(parseAwsOptions({ min_workers: 0 }, 3).minWorkers, 0);
  t.equal(parseAwsOptions({ min_workers: 3 }, 3).minWorkers, 3);
  t.equal(parseAwsOptions({ min_workers: 2 }).minWorkers, 2, 'without a worker count only the form is checked');
  const refusesFor = (value: unknown, workers: number, message: RegExp) => {
    try {
      parseAwsOptions({ min_workers: value }, workers);
      t.fail(`accepted min_workers ${JSON.stringify(value)}`);
    } catch (err) {
      t.ok(isSkiffError(err, 'PRV_INVALID_REQUEST'));
      t.match((err as Error).message, message);
    }
  };
  refusesFor(4, 3, /min_workers 4 is more than the 3 workers asked for; use a number from 0 to 3/);
  refusesFor(-1, 3, /min_workers -1 must be a whole number/);
  refusesFor(1.5, 3, /min_workers 1.5 must be a whole number/);
  refusesFor('2', 3, /min_workers "2" must be a whole number/);
});

t.test('the workspace is the request\'s; the workspace option may only agree with it', async (t) => {
  t.equal(parseAwsOptions(undefined).workspace, 'default');
  t.equal(parseAwsOptions(undefined, 1, 'team').workspace, 'team');
  t.equal(parseAwsOptions({ workspace: 'team' }, 1).workspace, 'team', 'the option alone names it');
  t.equal(parseAwsOptions({ workspace: 'team' }, 1, 'team').workspace, 'team');
  t.throws(() => parseAwsOptions({ workspace: 'else' }, 1, 'team'), { code: 'PRV_INVALID_REQUEST', message: /the workspace option "else" contradicts --workspace team/ });
  t.throws(() => parseAwsOptions({ workspace: '-x' }), { code: 'PRV_INVALID_REQUEST', message: /workspace "-x" must be 1 to 31 lower-case letters/ });
});
