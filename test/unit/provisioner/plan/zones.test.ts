import t from 'tap';
import { parseCidr } from '../../../../provisioner/plan/cidr.js';
import { chooseZone, usableZones, zoneSlot, zoneSubnetBlocks } from '../../../../provisioner/plan/zones.js';
import { planNetwork } from '../../../../provisioner/plan/network-plan.js';
import { parseAwsOptions } from '../../../../provisioner/plan/aws-options.js';

const vpc16 = (() => {
  const r = parseCidr('10.0.0.0/16');
  if (!r.ok) throw new Error('bad fixture');
  return r.cidr;
})();

t.test('each zone letter owns a fixed public and private block of the VPC', async (t) => {
  const table: [string, number | undefined, string, string][] = [
    ['us-east-1a', 0, '10.0.0.0/20', '10.0.128.0/20'],
    ['us-east-1c', 2, '10.0.32.0/20', '10.0.160.0/20'],
    ['us-east-1f', 5, '10.0.80.0/20', '10.0.208.0/20'],
    ['us-east-1h', 7, '10.0.112.0/20', '10.0.240.0/20'],
  ];
  for (const [zone, slot, pub, priv] of table) {
    t.equal(zoneSlot('us-east-1', zone), slot, `${zone} is slot ${slot}`);
    const r = zoneSubnetBlocks(vpc16, slot ?? -1);
    t.same(r, { ok: true, blocks: { public: pub, private: priv } }, zone);
  }
  t.equal(zoneSlot('us-east-1', 'us-east-1i'), undefined, 'a letter beyond h has no slot');
  t.equal(zoneSlot('us-east-1', 'us-west-1a'), undefined, 'a zone of another region has no slot');
  t.equal(zoneSlot('us-east-1', 'us-east-1-bos-1a'), undefined, 'a Local Zone has no slot');
});

t.test('the same zone keeps its subnets whatever other zones the account has (us-west-1: a,b or b,c)', async (t) => {
  const opts = parseAwsOptions({ region: 'us-west-1' });
  const cidrs = (zones: string[]) => {
    const n = planNetwork(opts, zones, zones[0] ?? '');
    if (n.kind !== 'managed') throw new Error('expected managed');
    return Object.fromEntries(n.subnets.map((s) => [s.key, s.cidr]));
  };
  const ab = cidrs(['us-west-1a', 'us-west-1b']);
  const bc = cidrs(['us-west-1b', 'us-west-1c']);
  t.equal(ab['subnet-public-us-west-1b'], bc['subnet-public-us-west-1b'], 'us-west-1b public is where it was');
  t.equal(ab['subnet-private-us-west-1b'], bc['subnet-private-us-west-1b'], 'us-west-1b private is where it was');
  t.same(bc, {
    'subnet-public-us-west-1b': '10.0.16.0/20',
    'subnet-private-us-west-1b': '10.0.144.0/20',
    'subnet-public-us-west-1c': '10.0.32.0/20',
    'subnet-private-us-west-1c': '10.0.160.0/20',
  });
  const all = Object.values(cidrs(['us-west-1a', 'us-west-1b', 'us-west-1c']));
  t.equal(new Set(all).size, all.length, 'no two subnets share a block');
});

t.test('a /24 VPC still gives every zone /28 subnets; a smaller one is refused', async (t) => {
  const small = parseCidr('172.16.0.0/24');
  const tiny = parseCidr('172.16.0.0/26');
  if (!small.ok || !tiny.ok) throw new Error('bad fixture');
  t.same(zoneSubnetBlocks(small.cidr, 1), { ok: true, blocks: { public: '172.16.0.16/28', private: '172.16.0.144/28' } });
  const r = zoneSubnetBlocks(tiny.cidr, 0);
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.reason, /too small.*\/30.*\/28/);
});

t.test('usable zones: available regional zones only, sorted, deduplicated', async (t) => {
  const zones = usableZones('us-west-1', [
    { ZoneName: 'us-west-1c', State: 'available', ZoneType: 'availability-zone' },
    { ZoneName: 'us-west-1b', State: 'available' },
    { ZoneName: 'us-west-1b', State: 'available' },
    { ZoneName: 'us-west-1a', State: 'impaired', ZoneType: 'availability-zone' },
    { ZoneName: 'us-west-1-lax-1a', State: 'available', ZoneType: 'local-zone' },
  ]);
  t.same(zones, ['us-west-1b', 'us-west-1c']);
});

t.test('the zone is the user\'s when the account has it, else the first available; a missing one names the valid zones', async (t) => {
  t.equal(chooseZone('us-west-1', undefined, ['us-west-1b', 'us-west-1c']), 'us-west-1b');
  t.equal(chooseZone('us-west-1', 'us-west-1c', ['us-west-1b', 'us-west-1c']), 'us-west-1c');
  t.throws(() => chooseZone('us-west-1', 'us-west-1a', ['us-west-1b', 'us-west-1c']), {
    code: 'PRV_INVALID_REQUEST',
    message: 'zone "us-west-1a" is not available in region us-west-1 for this account; valid zones: us-west-1b, us-west-1c',
  });
  t.throws(() => chooseZone('us-west-1', undefined, []), { code: 'PRV_INVALID_REQUEST', message: /no available zone/ });
});
