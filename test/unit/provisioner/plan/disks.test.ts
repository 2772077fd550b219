import t from 'tap';
import { defaultWorkerDiskGiB, planDisks, rootBlockDevice } from '../../../../provisioner/plan/disks.js';
import type { ResolvedImage } from '../../../../provisioner/plan/images.js';

const debian: ResolvedImage = { imageId: 'ami-0de12a0000000a002', architecture: 'x86_64', name: 'debian-12-amd64', rootDeviceName: '/dev/xvda', rootSnapshotGiB: 8 };
const dlami: ResolvedImage = { imageId: 'ami-0d1a00000000e0001', architecture: 'x86_64', name: 'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04)', rootDeviceName: '/dev/sda1', rootSnapshotGiB: 75 };
const types = {
  'm6i.xlarge': { vcpus: 4, architecture: 'x86_64' as const, gpus: 0, memoryMiB: 16384 },
  'r6i.2xlarge': { vcpus: 8, architecture: 'x86_64' as const, gpus: 0, memoryMiB: 65536 },
  'g5.xlarge': { vcpus: 4, architecture: 'x86_64' as const, gpus: 1, memoryMiB: 16384 },
};

t.test('the workers\' default is the environment plus twice the memory of the largest type, in tens of GiB', async (t) => {
  t.equal(defaultWorkerDiskGiB(['m6i.xlarge'], types), 50, '16 + 2 × 16 = 48 → 50');
  t.equal(defaultWorkerDiskGiB(['m6i.xlarge', 'r6i.2xlarge'], types), 150, '16 + 2 × 64 = 144 → 150: the largest type decides');
  t.equal(defaultWorkerDiskGiB(['unknown.type'], {}), 20, 'no memory known: the environment alone');
});

t.test('each role gets gp3 on its image\'s root device; never below the image\'s snapshot', async (t) => {
  const d = planDisks(undefined, { scheduler: debian, worker: dlami }, ['g5.xlarge'], types);
  t.same(d.scheduler, { deviceName: '/dev/xvda', sizeGiB: 20, volumeType: 'gp3' });
  t.same(d.worker, { deviceName: '/dev/sda1', sizeGiB: 75, volumeType: 'gp3' }, 'the GPU image\'s 75 GiB snapshot raises the 50 GiB default');
  t.same(planDisks(300, { scheduler: debian, worker: debian }, ['m6i.xlarge'], types).worker.sizeGiB, 300, 'disk_size as asked');
  t.same(planDisks(300, { scheduler: debian, worker: debian }, ['m6i.xlarge'], types).scheduler.sizeGiB, 20, 'the scheduler spills nothing: disk_size is the workers\'');
  t.throws(() => planDisks(40, { scheduler: debian, worker: dlami }, ['g5.xlarge'], types), { code: 'PRV_INVALID_REQUEST', message: /disk_size 40 GiB is smaller than the worker image ami-0d1a00000000e0001 .*root snapshot is 75 GiB; ask for 75 GiB or more/ });
  t.same(planDisks(undefined, { scheduler: { ...debian, rootDeviceName: undefined } as unknown as ResolvedImage, worker: debian }, [], {}).scheduler.deviceName, '/dev/xvda', 'an image that names no root device: /dev/xvda');
});

t.test('the block device mapping deletes the volume with its instance', async (t) => {
  t.same(rootBlockDevice({ deviceName: '/dev/sda1', sizeGiB: 75, volumeType: 'gp3' }), { DeviceName: '/dev/sda1', Ebs: { VolumeSize: 75, VolumeType: 'gp3', DeleteOnTermination: true } });
});
