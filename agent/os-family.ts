// Which package manager a machine has, decided from os-release (the freedesktop.org standard every image
// skiff supports ships): ID first, then ID_LIKE. Debian and Ubuntu use apt; Amazon Linux 2023, Fedora
// and the RHEL family use dnf.
import { readFileSync } from 'node:fs';
import { SkiffError } from '../broker/api/errors.js';

export type PackageFamily = 'apt' | 'dnf';

export interface OsRelease {
  id: string;
  idLike: string[];
  prettyName?: string;
}

const FAMILY_OF: Record<string, PackageFamily> = {
  debian: 'apt',
  ubuntu: 'apt',
  amzn: 'dnf',
  fedora: 'dnf',
  rhel: 'dnf',
  centos: 'dnf',
  rocky: 'dnf',
  almalinux: 'dnf',
};

export const SUPPORTED_FAMILIES = 'debian/ubuntu (apt) or amzn/fedora/rhel (dnf)';

/** KEY=value lines; values may be quoted. Comments and blank lines are skipped. */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!.trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    fields.set(m[1]!, value.replace(/\\(.)/g, '$1'));
  }
  const pretty = fields.get('PRETTY_NAME');
  return {
    id: (fields.get('ID') ?? '').toLowerCase(),
    idLike: (fields.get('ID_LIKE') ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    ...(pretty !== undefined ? { prettyName: pretty } : {}),
  };
}

export function packageFamily(os: OsRelease): PackageFamily | undefined {
  for (const id of [os.id, ...os.idLike]) {
    const family = FAMILY_OF[id];
    if (family) return family;
  }
  return undefined;
}

/** /etc/os-release, else /usr/lib/os-release, as the standard says. */
export function readOsRelease(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return read(path);
    } catch {
      // try the next one
    }
  }
  throw new SkiffError('AGT_PROCESS_FAILED', `neither /etc/os-release nor /usr/lib/os-release is readable, so the agent cannot tell how to install Dask; use an image of ${SUPPORTED_FAMILIES}`);
}
