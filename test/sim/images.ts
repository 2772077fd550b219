// Per-image machine profiles. Every VM boots the host's Debian 12 userland; a profile changes what a given
// image looks like (its os-release, a missing or older `node`, extra files), so a test can make a boot fail
// the way it would on that image. Profiles are keyed by AMI id, image-name prefix, or '*'.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ImageProfiles, VmImageProfile } from './types.js';

/** /etc/os-release of the images skiff supports, as each ships it. */
export const OS_RELEASE = {
  debian12: [
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
    'NAME="Debian GNU/Linux"',
    'VERSION_ID="12"',
    'VERSION="12 (bookworm)"',
    'VERSION_CODENAME=bookworm',
    'ID=debian',
    'HOME_URL="https://www.debian.org/"',
    'SUPPORT_URL="https://www.debian.org/support"',
    'BUG_REPORT_URL="https://bugs.debian.org/"',
  ].join('\n'),
  ubuntu2404: [
    'PRETTY_NAME="Ubuntu 24.04.3 LTS"',
    'NAME="Ubuntu"',
    'VERSION_ID="24.04"',
    'VERSION="24.04.3 LTS (Noble Numbat)"',
    'VERSION_CODENAME=noble',
    'ID=ubuntu',
    'ID_LIKE=debian',
    'HOME_URL="https://www.ubuntu.com/"',
    'SUPPORT_URL="https://help.ubuntu.com/"',
    'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"',
    'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"',
    'UBUNTU_CODENAME=noble',
    'LOGO=ubuntu-logo',
  ].join('\n'),
  al2023: [
    'NAME="Amazon Linux"',
    'VERSION="2023"',
    'ID="amzn"',
    'ID_LIKE="fedora"',
    'VERSION_ID="2023"',
    'PLATFORM_ID="platform:al2023"',
    'PRETTY_NAME="Amazon Linux 2023.9.20251014"',
    'ANSI_COLOR="0;33"',
    'CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"',
    'HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"',
    'DOCUMENTATION_URL="https://docs.aws.amazon.com/linux/"',
    'SUPPORT_URL="https://aws.amazon.com/premiumsupport/"',
    'BUG_REPORT_URL="https://github.com/amazonlinux/amazon-linux-2023"',
    'VENDOR_NAME="AWS"',
    'VENDOR_URL="https://aws.amazon.com/"',
    'SUPPORT_END="2029-06-30"',
  ].join('\n'),
} as const;

/** Debian 12 as it boots on EC2: no `node` at all (apt's candidate, without network, is unreachable anyway). */
export const DEBIAN12_WITHOUT_NODE: VmImageProfile = { osRelease: OS_RELEASE.debian12, remove: ['/usr/bin/node', '/usr/bin/nodejs'] };

/** A machine whose `node` is Debian 12's own nodejs package: 18.19.0. */
export const DEBIAN12_NODE18: VmImageProfile = { osRelease: OS_RELEASE.debian12, nodeVersion: '18.19.0' };

/**
 * The profile for an instance: its AMI id first, then the longest image-name prefix that matches, then '*'.
 * `imageName` comes from DescribeImages (undefined when moto does not know the image).
 */
export function profileFor(profiles: ImageProfiles, imageId: string, imageName: string | undefined): VmImageProfile | undefined {
  if (profiles[imageId]) return profiles[imageId];
  if (imageName !== undefined) {
    const prefix = Object.keys(profiles)
      .filter((k) => k !== '*' && !k.startsWith('ami-') && imageName.startsWith(k))
      .sort((a, b) => b.length - a.length)[0];
    if (prefix !== undefined) return profiles[prefix];
  }
  return profiles['*'];
}

/** Writes the profile where boot.sh applies it: <stateDir>/image/{os-release, remove, files/...}. */
export function writeProfile(stateDir: string, profile: VmImageProfile | undefined): void {
  const dir = join(stateDir, 'image');
  mkdirSync(join(dir, 'files'), { recursive: true });
  if (!profile) return;
  if (profile.osRelease !== undefined) writeFileSync(join(dir, 'os-release'), profile.osRelease.endsWith('\n') ? profile.osRelease : `${profile.osRelease}\n`);
  for (const p of profile.remove ?? []) if (!p.startsWith('/') || p === '/') throw new Error(`image profile: remove needs absolute paths other than /, not ${JSON.stringify(p)}`);
  if (profile.remove?.length) writeFileSync(join(dir, 'remove'), profile.remove.join('\n') + '\n');
  for (const [path, spec] of Object.entries(profile.files ?? {})) {
    if (!path.startsWith('/') || path.split('/').includes('..')) throw new Error(`image profile: file path ${JSON.stringify(path)} must be absolute, without ..`);
    const target = join(dir, 'files', path);
    mkdirSync(dirname(target), { recursive: true });
    const { content, mode } = typeof spec === 'string' ? { content: spec, mode: 0o644 } : { content: spec.content, mode: spec.mode ?? 0o644 };
    writeFileSync(target, content);
    chmodSync(target, mode);
  }
  if (profile.nodeVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(profile.nodeVersion)) {
    throw new Error(`image profile: nodeVersion ${JSON.stringify(profile.nodeVersion)} must look like 18.19.0`);
  }
}
