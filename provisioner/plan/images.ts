// Which image each role boots, as data. Pure: the aws adapter runs the lookup and hands the answer back here.
//
// Defaults (the newest available image of the region matching the name, owned by the publisher's account):
//
//   role / architecture       image                                                              owner
//   any, x86_64               Debian 12 official AMI, debian-12-amd64-*                          136693071363 (Debian)
//   any, arm64                Debian 12 official AMI, debian-12-arm64-*                          136693071363 (Debian)
//   GPU worker, x86_64        Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *      898082745236 (AWS DLAMI)
//   GPU worker, arm64         Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *  898082745236 (AWS DLAMI)
//
// Why: Debian 12's python3-distributed is what the agent installs (apt), and its package steps are the ones the
// tests' EC2 simulator runs for real on this Debian 12 machine; the name pattern leaves out the
// debian-12-backports-* images. GPU workers need the NVIDIA driver already in the image: the DLAMI Base OSS
// images carry it on Ubuntu 24.04 LTS (apt too), for g4dn/g5/g6 (x86_64) and g5g (arm64). Amazon Linux 2023
// stays usable by naming its AMI with the `ami` option. A named AMI must exist and match the role's architecture.

import type { Architecture } from './instance-types.js';

export interface ImageQuery {
  owners: string[];
  namePattern: string;
  architecture: Architecture;
  description: string;
}

/** The image a role boots, resolved at plan time. */
export interface ResolvedImage {
  imageId: string;
  architecture: Architecture;
  /** The image's name, or what it is, for messages. */
  name: string;
  /** Its root device (RootDeviceName), e.g. /dev/xvda; the root volume's mapping must name it. */
  rootDeviceName?: string;
  /** The size of its root device's snapshot (the smallest root volume EBS allows for it). */
  rootSnapshotGiB?: number;
}

/** The root device and its snapshot's size, from a DescribeImages answer. */
export function rootDeviceOf(img: ImageAnswer): Pick<ResolvedImage, 'rootDeviceName' | 'rootSnapshotGiB'> {
  const out: Pick<ResolvedImage, 'rootDeviceName' | 'rootSnapshotGiB'> = {};
  if (img.RootDeviceName) out.rootDeviceName = img.RootDeviceName;
  const size = img.BlockDeviceMappings?.find((b) => b.DeviceName === img.RootDeviceName)?.Ebs?.VolumeSize;
  if (typeof size === 'number') out.rootSnapshotGiB = size;
  return out;
}

export const DEBIAN_OWNER = '136693071363';
export const DLAMI_OWNER = '898082745236';

export function defaultImageQuery(architecture: Architecture, gpu: boolean): ImageQuery {
  if (gpu) {
    const name = architecture === 'arm64' ? 'Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04)' : 'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04)';
    return { owners: [DLAMI_OWNER], namePattern: `${name} *`, architecture, description: `the newest ${name} (${architecture})` };
  }
  const deb = architecture === 'arm64' ? 'arm64' : 'amd64';
  return { owners: [DEBIAN_OWNER], namePattern: `debian-12-${deb}-*`, architecture, description: `the newest Debian 12 official AMI (${architecture})` };
}

export interface ImageAnswer {
  ImageId?: string | undefined;
  Name?: string | undefined;
  CreationDate?: string | undefined;
  Architecture?: string | undefined;
  State?: string | undefined;
  RootDeviceName?: string | undefined;
  BlockDeviceMappings?: { DeviceName?: string | undefined; Ebs?: { VolumeSize?: number | undefined } | undefined }[] | undefined;
}

/** The newest image of a lookup answer (by creation date, then name), or undefined. */
export function newestImage(answer: readonly ImageAnswer[]): ImageAnswer | undefined {
  return [...answer]
    .filter((i) => i.ImageId && (i.State ?? 'available') === 'available')
    .sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '') || (b.Name ?? '').localeCompare(a.Name ?? ''))[0];
}

/** A cache key for lookups that two roles can share. */
export function imageQueryKey(q: ImageQuery): string {
  return JSON.stringify([q.owners, q.namePattern, q.architecture]);
}
