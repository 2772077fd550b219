import t from 'tap';
import { checkVcpuQuotas, familyOf, lifecyclesOf, quotaClassOf, quotasDrawnOn, type VcpuRequest } from '../../../../provisioner/plan/quotas.js';

const OD = 'L-1216C47A';
const SPOT = 'L-34B43A08';
const G_OD = 'L-DB2E81BA';
const G_SPOT = 'L-3819A6DF';

const request = (workers: number, over: Partial<VcpuRequest['workers']> = {}, scheduler = { type: 'm6i.xlarge', vcpus: 4 }): VcpuRequest => ({
  scheduler,
  workers: { count: workers, minCount: workers, types: [{ type: 'm6i.xlarge', vcpus: 4 }, { type: 'm5.2xlarge', vcpus: 8 }], lifecycles: ['on-demand'], ...over },
});

t.test('families map to the quota classes EC2 counts them in', async (t) => {
  const table: [string, string, string | undefined][] = [
    ['m6i.xlarge', 'm', 'standard'],
    ['c7gn.large', 'c', 'standard'],
    ['t3.micro', 't', 'standard'],
    ['im4gn.large', 'im', 'standard'],
    ['is4gen.xlarge', 'is', 'standard'],
    ['z1d.large', 'z', 'standard'],
    ['hpc7g.4xlarge', 'hpc', undefined],
    ['g4dn.xlarge', 'g', 'gvt'],
    ['gr6.4xlarge', 'gr', 'gvt'],
    ['vt1.3xlarge', 'vt', 'gvt'],
    ['p3.2xlarge', 'p', 'p'],
    ['x2idn.16xlarge', 'x', undefined],
    ['inf2.xlarge', 'inf', undefined],
  ];
  for (const [type, family, cls] of table) {
    t.equal(familyOf(type), family, `${type} is family ${family}`);
    t.equal(quotaClassOf(type), cls, `${type} counts in ${cls ?? 'no checked quota'}`);
  }
});

t.test('a request draws on the on-demand quota of the scheduler and the quotas of its workers\' spot policy', async (t) => {
  t.same(quotasDrawnOn(request(3)), [OD]);
  t.same(quotasDrawnOn(request(3, { lifecycles: lifecyclesOf('spot_with_fallback') })), [OD, SPOT]);
  t.same(quotasDrawnOn(request(2, { types: [{ type: 'g4dn.xlarge', vcpus: 4 }], lifecycles: lifecyclesOf('spot') })), [OD, G_SPOT]);
  t.same(quotasDrawnOn(request(0, { types: [{ type: 'g4dn.xlarge', vcpus: 4 }] })), [OD], 'no workers, only the scheduler');
});

t.test('a request that fits passes and records what was checked', async (t) => {
  const v = checkVcpuQuotas('us-east-1', request(7), { [OD]: 40 }, { [OD]: 8 });
  t.same(v, { ok: true, warnings: [], checks: [{ code: OD, name: 'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances', limitVcpus: 40, usedVcpus: 8, requestVcpus: 32 }] });
});

t.test('above the quota: refused with the numbers (scheduler + workers × the smallest worker type)', async (t) => {
  // 4 (scheduler) + 8 × 4 = 36 needed; 32 − 8 = 24 left.
  const v = checkVcpuQuotas('us-east-1', request(8), { [OD]: 32 }, { [OD]: 8 });
  t.equal(v.ok, false);
  if (!v.ok) {
    t.equal(
      v.message,
      'the request needs 36 vCPUs of Running On-Demand Standard instances in us-east-1; quota 32, 8 in use; ask AWS for more in Service Quotas (L-1216C47A) or use fewer/smaller workers',
    );
  }
});

t.test('exactly at the quota fits; one vCPU more does not', async (t) => {
  t.equal(checkVcpuQuotas('us-east-1', request(5), { [OD]: 24 }, {}).ok, true, '4 + 5 × 4 = 24');
  t.equal(checkVcpuQuotas('us-east-1', request(5), { [OD]: 24 }, { [OD]: 1 }).ok, false, 'one in use tips it over');
});

t.test('min_workers: refused only when not even min_workers fit; between min and all it warns', async (t) => {
  const partly = checkVcpuQuotas('us-east-1', request(8, { minCount: 4 }), { [OD]: 32 }, { [OD]: 8 });
  t.equal(partly.ok, true);
  if (partly.ok) t.match(partly.warnings, [/room for only 5 of 8 workers/]);
  const none = checkVcpuQuotas('us-east-1', request(8, { minCount: 6 }), { [OD]: 32 }, { [OD]: 8 });
  t.equal(none.ok, false);
  if (!none.ok) t.match(none.message, /needs 28 vCPUs of Running On-Demand Standard instances \(the scheduler and min_workers 6\) in us-east-1; quota 32, 8 in use/);
});

t.test('spot_with_fallback may use both the spot and the on-demand quota', async (t) => {
  const req = request(8, { lifecycles: lifecyclesOf('spot_with_fallback') });
  // Spot holds 4 workers (16/4), on-demand 5 after the scheduler ((32 − 8 − 4)/4): 9 ≥ 8.
  t.equal(checkVcpuQuotas('us-east-1', req, { [OD]: 32, [SPOT]: 16 }, { [OD]: 8 }).ok, true);
  const v = checkVcpuQuotas('us-east-1', req, { [OD]: 20, [SPOT]: 16 }, { [OD]: 8 });
  t.equal(v.ok, false);
  if (!v.ok) t.match(v.message, /needs 36 vCPUs of Running On-Demand Standard instances or All Standard Spot Instance Requests in us-east-1; quotas: Running On-Demand Standard instances 20 \(8 in use\), All Standard Spot Instance Requests 16 \(0 in use\)/);
});

t.test('GPU workers count against the G and VT quota, the scheduler against the standard one', async (t) => {
  const req = request(3, { types: [{ type: 'g5.xlarge', vcpus: 4 }] });
  const v = checkVcpuQuotas('us-east-1', req, { [OD]: 32, [G_OD]: 8 }, {});
  t.equal(v.ok, false);
  if (!v.ok) t.match(v.message, /Running On-Demand Standard instances or Running On-Demand G and VT instances/);
  t.equal(checkVcpuQuotas('us-east-1', req, { [OD]: 32, [G_OD]: 12 }, {}).ok, true);
  t.equal(checkVcpuQuotas('us-east-1', req, { [OD]: 2, [G_OD]: 12 }, {}).ok, false, 'the scheduler alone does not fit');
});

t.test('a quota that could not be read is not checked', async (t) => {
  t.same(checkVcpuQuotas('us-east-1', request(1000), {}, {}), { ok: true, warnings: [], checks: [] });
  t.equal(checkVcpuQuotas('us-east-1', request(10, { lifecycles: lifecyclesOf('spot_with_fallback') }), { [OD]: 4 }, {}).ok, true, 'unreadable spot quota: room unknown');
});
