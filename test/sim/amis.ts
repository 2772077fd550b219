// The images moto knows in the simulator: moto's own default list (some of its code refers to those ids) plus
// the public images skiff may look up, with their publishers' real owner ids and name patterns.
//
// moto reads MOTO_AMIS_PATH instead of its bundled amis.json and then skips its per-region `latest_amis`
// (moto/ec2/models/amis.py, AmiBackend._load_amis), so only this list exists. moto gives every image loaded
// this way the owner alias "amazon"; on EC2 only Amazon's own accounts (Amazon Linux, Deep Learning AMIs) have
// it, so look Debian and Ubuntu up by owner id: a test cannot tell the difference.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runOk } from './run.js';

/** One entry of moto's AMI file (the keyword arguments of moto's Ami class). */
export interface MotoAmi {
  ami_id: string;
  name: string;
  description: string;
  owner_id: string;
  public: boolean;
  state: 'available';
  architecture: 'x86_64' | 'arm64';
  virtualization_type: 'hvm';
  hypervisor: 'xen';
  image_type: 'machine';
  image_location: string;
  root_device_type: 'ebs';
  root_device_name: string;
  sriov: 'simple';
  creation_date: string;
  boot_mode?: string;
}

export const OWNERS = {
  debian: '136693071363',
  canonical: '099720109477',
  amazonLinux: '137112412989',
  deepLearning: '898082745236',
} as const;

function ami(id: string, owner: string, name: string, description: string, arch: MotoAmi['architecture'], created: string, root = '/dev/xvda', bootMode?: string): MotoAmi {
  return {
    ami_id: id,
    name,
    description,
    owner_id: owner,
    public: true,
    state: 'available',
    architecture: arch,
    virtualization_type: 'hvm',
    hypervisor: 'xen',
    image_type: 'machine',
    image_location: `${owner === OWNERS.amazonLinux || owner === OWNERS.deepLearning ? 'amazon' : owner}/${name}`,
    root_device_type: 'ebs',
    root_device_name: root,
    sriov: 'simple',
    creation_date: created,
    ...(bootMode ? { boot_mode: bootMode } : {}),
  };
}

const DLAMI = 'Deep Learning Base OSS Nvidia Driver GPU AMI';

/** Names and dates follow each publisher's scheme (Debian cloud team, Canonical, Amazon Linux, DLAMI). */
export const SIM_IMAGES: readonly MotoAmi[] = [
  ami('ami-0d5d9d301c853a04a', OWNERS.debian, 'debian-12-amd64-20251006-2257', 'Debian 12 (20251006-2257)', 'x86_64', '2025-10-06T23:05:41.000Z'),
  ami('ami-0a7ed3a6f1e2b4c01', OWNERS.debian, 'debian-12-arm64-20251006-2257', 'Debian 12 (20251006-2257)', 'arm64', '2025-10-06T23:06:12.000Z'),
  ami('ami-04b1f6c2d8e9a7b30', OWNERS.debian, 'debian-12-amd64-20250814-2206', 'Debian 12 (20250814-2206)', 'x86_64', '2025-08-14T22:14:03.000Z'),
  ami('ami-0360c520857e3138f', OWNERS.canonical, 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251001', 'Canonical, Ubuntu, 24.04, amd64 noble image', 'x86_64', '2025-10-01T07:43:29.000Z', '/dev/sda1', 'uefi-preferred'),
  ami('ami-0a9b1c3d5e7f90241', OWNERS.canonical, 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20251001', 'Canonical, Ubuntu, 24.04, arm64 noble image', 'arm64', '2025-10-01T07:44:02.000Z', '/dev/sda1', 'uefi'),
  ami('ami-07860a2d7eb515d9a', OWNERS.amazonLinux, 'al2023-ami-2023.9.20251014.0-kernel-6.1-x86_64', 'Amazon Linux 2023 AMI 2023.9.20251014.0 x86_64 HVM kernel-6.1', 'x86_64', '2025-10-14T21:43:51.000Z', '/dev/xvda', 'uefi-preferred'),
  ami('ami-0c0a7d4b5e3f20b62', OWNERS.amazonLinux, 'al2023-ami-2023.9.20251014.0-kernel-6.1-arm64', 'Amazon Linux 2023 AMI 2023.9.20251014.0 arm64 HVM kernel-6.1', 'arm64', '2025-10-14T21:44:10.000Z', '/dev/xvda', 'uefi'),
  // An older release and the minimal variant: a lookup must pick the newest and must not match "minimal".
  ami('ami-0e1f2a3b4c5d60718', OWNERS.amazonLinux, 'al2023-ami-2023.8.20250915.0-kernel-6.1-x86_64', 'Amazon Linux 2023 AMI 2023.8.20250915.0 x86_64 HVM kernel-6.1', 'x86_64', '2025-09-15T20:11:37.000Z', '/dev/xvda', 'uefi-preferred'),
  ami('ami-0f9e8d7c6b5a40392', OWNERS.amazonLinux, 'al2023-ami-minimal-2023.9.20251014.0-kernel-6.1-x86_64', 'Amazon Linux 2023 AMI 2023.9.20251014.0 x86_64 Minimal HVM kernel-6.1', 'x86_64', '2025-10-14T21:40:02.000Z', '/dev/xvda', 'uefi-preferred'),
  ami('ami-0b7c4d2e1f3a58a6c', OWNERS.deepLearning, `${DLAMI} (Ubuntu 24.04) 20251010`, `Supported EC2 instances: G4dn, G5, G6, Gr6, G6e, P4, P4de, P5, P5e, P5en, P6-B200. PyTorch-2.8, TensorFlow-2.18. Release notes: https://docs.aws.amazon.com/dlami/latest/devguide/appendix-ami-release-notes.html`, 'x86_64', '2025-10-10T09:31:55.000Z', '/dev/sda1'),
  ami('ami-0d3e5f7a9b1c2d4e6', OWNERS.deepLearning, `${DLAMI} (Amazon Linux 2023) 20251010`, `Supported EC2 instances: G4dn, G5, G6, Gr6, G6e, P4, P4de, P5, P5e, P5en, P6-B200. Release notes: https://docs.aws.amazon.com/dlami/latest/devguide/appendix-ami-release-notes.html`, 'x86_64', '2025-10-10T09:28:17.000Z'),
];

/** moto's bundled defaults, as installed (read from the moto package that will serve). */
async function motoDefaults(python: string): Promise<Array<Record<string, unknown>>> {
  const dir = (await runOk(python, ['-c', 'import moto, os; print(os.path.dirname(moto.__file__))'])).trim();
  const list = JSON.parse(gunzipSync(readFileSync(join(dir, 'ec2/resources/amis.json.gz'))).toString('utf8')) as Array<Record<string, unknown>>;
  // Undated entries would get "now" as their creation date and win every newest-first lookup; their names say 2017.
  return list.map((a) => ({ creation_date: '2017-10-13T00:00:00.000Z', ...a }));
}

/** Writes the file moto reads through MOTO_AMIS_PATH; returns its path. */
export async function writeAmisFile(dir: string, python: string): Promise<string> {
  const path = join(dir, 'amis.json');
  writeFileSync(path, JSON.stringify([...(await motoDefaults(python)), ...SIM_IMAGES], null, 1));
  return path;
}
