import t from 'tap';
import { checkWorkerGpus, instanceTypeFacts, roleArchitecture, smallestType } from '../../../../provisioner/plan/instance-types.js';

const answer = [
  { InstanceType: 'm6i.xlarge', VCpuInfo: { DefaultVCpus: 4 }, ProcessorInfo: { SupportedArchitectures: ['x86_64'] } },
  { InstanceType: 'm5.large', VCpuInfo: { DefaultVCpus: 2 }, ProcessorInfo: { SupportedArchitectures: ['x86_64'] } },
  { InstanceType: 't2.micro', VCpuInfo: { DefaultVCpus: 1 }, ProcessorInfo: { SupportedArchitectures: ['i386', 'x86_64'] } },
  { InstanceType: 'm7g.xlarge', VCpuInfo: { DefaultVCpus: 4 }, ProcessorInfo: { SupportedArchitectures: ['arm64'] } },
  { InstanceType: 'g5g.xlarge', VCpuInfo: { DefaultVCpus: 4 }, ProcessorInfo: { SupportedArchitectures: ['arm64'] }, GpuInfo: { Gpus: [{ Count: 1 }] } },
  { InstanceType: 'g4dn.12xlarge', VCpuInfo: { DefaultVCpus: 48 }, ProcessorInfo: { SupportedArchitectures: ['x86_64'] }, GpuInfo: { Gpus: [{ Count: 4 }] } },
  { InstanceType: 'mac2.metal', VCpuInfo: { DefaultVCpus: 8 }, ProcessorInfo: { SupportedArchitectures: ['arm64_mac'] } },
];
const all = ['m6i.xlarge', 'm5.large', 't2.micro', 'm7g.xlarge', 'g5g.xlarge', 'g4dn.12xlarge'];

t.test('facts: vCPUs, the one bootable architecture and GPUs of each type', async (t) => {
  const f = instanceTypeFacts('us-east-1', all, answer);
  t.same(f['m6i.xlarge'], { vcpus: 4, architecture: 'x86_64', gpus: 0 });
  t.same(f['t2.micro'], { vcpus: 1, architecture: 'x86_64', gpus: 0 }, 'i386 + x86_64 boots x86_64');
  t.same(f['g5g.xlarge'], { vcpus: 4, architecture: 'arm64', gpus: 1 });
  t.same(f['g4dn.12xlarge'], { vcpus: 48, architecture: 'x86_64', gpus: 4 });
});

t.test('refuses types the region does not offer and macOS-only types, by name', async (t) => {
  t.throws(() => instanceTypeFacts('eu-west-3', ['m6i.xlarge', 'm5.gigantic'], answer), { code: 'PRV_INVALID_REQUEST', message: /m5\.gigantic are not offered in eu-west-3/ });
  t.throws(() => instanceTypeFacts('us-east-1', ['mac2.metal'], answer), { code: 'PRV_INVALID_REQUEST', message: /mac2\.metal \(arm64_mac\) run no Linux image/ });
});

t.test('a role\'s types share one architecture; a mix is refused naming each type with its architecture', async (t) => {
  const f = instanceTypeFacts('us-east-1', all, answer);
  t.equal(roleArchitecture('worker', ['m6i.xlarge', 'm5.large'], f), 'x86_64');
  t.equal(roleArchitecture('worker', ['m7g.xlarge', 'g5g.xlarge'], f), 'arm64');
  t.throws(() => roleArchitecture('worker', ['m6i.xlarge', 'm7g.xlarge', 'm5.large'], f), {
    code: 'PRV_INVALID_REQUEST',
    message: "worker_vm_types mix architectures: m6i.xlarge, m5.large (x86_64) and m7g.xlarge (arm64); a cluster's workers run one image, so list types of one architecture",
  });
  t.throws(() => roleArchitecture('scheduler', ['m7g.xlarge', 'm5.large'], f), { message: /scheduler_vm_types mix architectures: m7g\.xlarge \(arm64\) and m5\.large \(x86_64\)/ });
});

t.test('GPU workers need exactly one GPU per type', async (t) => {
  const f = instanceTypeFacts('us-east-1', all, answer);
  t.doesNotThrow(() => checkWorkerGpus(['g5g.xlarge'], f));
  t.throws(() => checkWorkerGpus(['g4dn.12xlarge'], f), { message: /g4dn\.12xlarge has 4 GPUs/ });
  t.throws(() => checkWorkerGpus(['m6i.xlarge'], f), { message: /m6i\.xlarge has 0 GPUs/ });
});

t.test('the smallest type is the one with the fewest vCPUs, the first listed among equals', async (t) => {
  const f = instanceTypeFacts('us-east-1', all, answer);
  t.equal(smallestType(['m6i.xlarge', 'm5.large', 't2.micro'], f), 't2.micro');
  t.equal(smallestType(['m6i.xlarge', 'm7g.xlarge'], f), 'm6i.xlarge');
});
