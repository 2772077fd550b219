import t from 'tap';
import { formatCidr, parseCidr, splitForZones } from '../../../../provisioner/plan/cidr.js';

t.test('parses and formats CIDR blocks', async (t) => {
  const cases: [string, boolean][] = [
    ['10.0.0.0/16', true],
    ['0.0.0.0/0', true],
    ['203.0.113.7/32', true],
    ['10.0.0.1/16', false],
    ['10.0.0.0/33', false],
    ['256.0.0.0/8', false],
    ['10.0.0/16', false],
    ['010.0.0.0/8', false],
    ['10.0.0.0', false],
  ];
  for (const [input, ok] of cases) {
    const r = parseCidr(input);
    t.equal(r.ok, ok, input);
    if (r.ok) t.equal(formatCidr(r.cidr), input, `${input} round-trips`);
  }
});

t.test('names the block a CIDR with host bits meant', async (t) => {
  const r = parseCidr('10.0.0.1/16');
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.reason, /did you mean 10\.0\.0\.0\/16/);
});

t.test('splits a VPC into public and private subnets per zone', async (t) => {
  const table: { vpc: string; zones: number; first: [string, string]; last: [string, string] }[] = [
    { vpc: '10.0.0.0/16', zones: 6, first: ['10.0.0.0/20', '10.0.128.0/20'], last: ['10.0.80.0/20', '10.0.208.0/20'] },
    { vpc: '10.0.0.0/16', zones: 3, first: ['10.0.0.0/19', '10.0.128.0/19'], last: ['10.0.64.0/19', '10.0.192.0/19'] },
    { vpc: '10.0.0.0/16', zones: 2, first: ['10.0.0.0/18', '10.0.128.0/18'], last: ['10.0.64.0/18', '10.0.192.0/18'] },
    { vpc: '10.0.0.0/16', zones: 1, first: ['10.0.0.0/17', '10.0.128.0/17'], last: ['10.0.0.0/17', '10.0.128.0/17'] },
    { vpc: '172.16.0.0/24', zones: 4, first: ['172.16.0.0/27', '172.16.0.128/27'], last: ['172.16.0.96/27', '172.16.0.224/27'] },
  ];
  for (const row of table) {
    const vpc = parseCidr(row.vpc);
    if (!vpc.ok) throw new Error('bad fixture');
    const r = splitForZones(vpc.cidr, row.zones);
    if (!r.ok) throw new Error(r.reason);
    t.equal(r.zones.length, row.zones, `${row.vpc} × ${row.zones}: one pair per zone`);
    t.same([r.zones[0]?.public, r.zones[0]?.private], row.first, `${row.vpc} × ${row.zones}: first zone`);
    t.same([r.zones.at(-1)?.public, r.zones.at(-1)?.private], row.last, `${row.vpc} × ${row.zones}: last zone`);
    const all = r.zones.flatMap((z) => [z.public, z.private]);
    t.equal(new Set(all).size, all.length, 'no two subnets share a block');
  }
});

t.test('keeps existing zones in place when a region has more zones', async (t) => {
  const vpc = parseCidr('10.0.0.0/16');
  if (!vpc.ok) throw new Error('bad fixture');
  const five = splitForZones(vpc.cidr, 5);
  const six = splitForZones(vpc.cidr, 6);
  if (!five.ok || !six.ok) throw new Error('split failed');
  t.same(six.zones.slice(0, 5), five.zones);
});

t.test('refuses a VPC too small for every zone', async (t) => {
  const vpc = parseCidr('10.0.0.0/26');
  if (!vpc.ok) throw new Error('bad fixture');
  const r = splitForZones(vpc.cidr, 6);
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.reason, /too small for 6 zones/);
});
