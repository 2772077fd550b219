import t from 'tap';
import { formatCidr, parseCidr } from '../../../../provisioner/plan/cidr.js';

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
