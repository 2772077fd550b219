// The root volume of each role, as data. Pure. Every machine boots on a gp3 root volume deleted with its instance
// (DeleteOnTermination), sized for what the role keeps on disk:
//
//   role       default size (GiB)                                                   --disk-size
//   scheduler  ENVIRONMENT_GIB + SCHEDULER_LOGS_GIB                     = 20         not applied (it spills nothing)
//   worker     ENVIRONMENT_GIB + SPILL_FACTOR × memory of its largest type          the size asked
//              (m6i.xlarge, 16 GiB: 16 + 2 × 16 = 48 → 50)
//   either     never below the image's own root snapshot (EBS refuses a smaller volume)
//
// How the default was chosen:
// - The environment: the image's system (Debian 12's root snapshot is 8 GiB with about 2 GiB used; the GPU image's
//   is larger, see below), the Python environment the boot script installs (dask, distributed, numpy, pandas,
//   pyarrow come to about 1.5 GiB; a user's packages such as torch or CUDA wheels add up to 6 GiB more), the
//   package caches of that install and the machine's logs: ENVIRONMENT_GIB = 16.
// - Dask's spilling: a worker moves data to its local directory (on the root volume) from 60% of its memory limit
//   (target) and 70% (spill), pauses at 80% and is restarted at 95%; what lands on disk is bounded by what the
//   graph holds, not by memory (https://distributed.dask.org/en/stable/worker-memory.html). Room for twice the
//   worker's memory covers a shuffle or a persist that is larger than memory without making the disk the main
//   cost: gp3 is billed per GiB-month ($0.08 in us-east-1), so 50 GiB is about $0.005 per worker-hour, against
//   about $0.19 for the m6i.xlarge itself.
// - gp3 over gp2: gp3 includes 3,000 IOPS and 125 MiB/s whatever its size (gp2's baseline grows with size, 150
//   IOPS for 50 GiB) at a lower price per GiB, so a small spill disk is not a slow one; sizes 1 GiB to 16 TiB
//   (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html).
// - The image's root snapshot: a volume smaller than the snapshot it is made from is refused at launch
//   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html, VolumeSize), so the size is
//   raised to it, and a --disk-size below it is refused at plan time.

import { SkiffError } from '../../broker/api/errors.js';
import type { ResolvedImage } from './images.js';
import type { InstanceTypeFacts } from './instance-types.js';

export const ENVIRONMENT_GIB = 16;
export const SCHEDULER_LOGS_GIB = 4;
export const SPILL_FACTOR = 2;
/** gp3's limits. */
export const MIN_DISK_GIB = 1;
export const MAX_DISK_GIB = 16_384;
/** The device name when an image does not say (Debian's and Amazon Linux's). */
export const DEFAULT_ROOT_DEVICE = '/dev/xvda';

export interface RootDisk {
  /** The image's root device (DescribeImages RootDeviceName), e.g. /dev/xvda (Debian) or /dev/sda1 (Ubuntu DLAMI). */
  deviceName: string;
  sizeGiB: number;
  volumeType: 'gp3';
}

const roundUp = (gib: number, step: number): number => Math.ceil(gib / step) * step;

function diskFor(role: 'scheduler' | 'worker', image: ResolvedImage, wantedGiB: number, asked: boolean): RootDisk {
  const snapshot = image.rootSnapshotGiB ?? 0;
  if (asked && wantedGiB < snapshot) {
    throw new SkiffError('PRV_INVALID_REQUEST', `disk_size ${wantedGiB} GiB is smaller than the ${role} image ${image.imageId} (${image.name}), whose root snapshot is ${snapshot} GiB; ask for ${snapshot} GiB or more`);
  }
  return { deviceName: image.rootDeviceName ?? DEFAULT_ROOT_DEVICE, sizeGiB: Math.max(wantedGiB, snapshot), volumeType: 'gp3' };
}

/** The workers' default: the environment plus room to spill twice the memory of the largest worker type. */
export function defaultWorkerDiskGiB(workerTypes: readonly string[], facts: Readonly<Record<string, InstanceTypeFacts>>): number {
  const memoryGiB = Math.max(0, ...workerTypes.map((t) => (facts[t]?.memoryMiB ?? 0) / 1024));
  return roundUp(ENVIRONMENT_GIB + SPILL_FACTOR * memoryGiB, 10);
}

export function planDisks(
  diskSizeGiB: number | undefined,
  images: { scheduler: ResolvedImage; worker: ResolvedImage },
  workerTypes: readonly string[],
  facts: Readonly<Record<string, InstanceTypeFacts>>,
): { scheduler: RootDisk; worker: RootDisk } {
  return {
    scheduler: diskFor('scheduler', images.scheduler, ENVIRONMENT_GIB + SCHEDULER_LOGS_GIB, false),
    worker: diskFor('worker', images.worker, diskSizeGiB ?? defaultWorkerDiskGiB(workerTypes, facts), diskSizeGiB !== undefined),
  };
}

/** The block device mapping EC2 takes for a root disk (RunInstances and a launch template alike). */
export function rootBlockDevice(disk: RootDisk): { DeviceName: string; Ebs: { VolumeSize: number; VolumeType: 'gp3'; DeleteOnTermination: true } } {
  return { DeviceName: disk.deviceName, Ebs: { VolumeSize: disk.sizeGiB, VolumeType: disk.volumeType, DeleteOnTermination: true } };
}
