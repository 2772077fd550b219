// Comparing package versions the way PEP 440 defines equality ("1.0" is "1.0.0", "1.0RC1" is "1.0rc1"), and
// the client's environment with what the scheduler and workers report (Dask's own get_versions()).
//
// A local label ("2022.12.1+dfsg", Debian's rebuild of a release) is left out of the comparison: it marks the
// same release built by a distributor, and pip's "==2022.12.1" is satisfied by it too.

const PEP440 =
  /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;

const PRE: Record<string, string> = { a: 'a', alpha: 'a', b: 'b', beta: 'b', c: 'rc', rc: 'rc', pre: 'rc', preview: 'rc' };

/** The public part of a version, normalized ("v1.0.0-RC1+local" → "1.0.0rc1"); the text trimmed if it is not PEP 440. */
export function publicVersion(version: string): string {
  const m = PEP440.exec(version);
  if (!m) return version.trim();
  const [, epoch, release, preL, preN, postN1, postL, postN2, devL, devN] = m;
  let out = `${epoch && Number(epoch) !== 0 ? `${Number(epoch)}!` : ''}${(release as string).split('.').map(Number).join('.')}`;
  if (preL) out += `${PRE[preL.toLowerCase()]}${Number(preN ?? 0)}`;
  if (postN1 !== undefined || postL) out += `.post${Number(postN1 ?? postN2 ?? 0)}`;
  if (devL) out += `.dev${Number(devN ?? 0)}`;
  return out;
}

/** Equal as PEP 440 releases, trailing zeros of the release aside ("1.0" is "1.0.0"); local labels ignored. */
export function sameVersion(a: string, b: string): boolean {
  const key = (v: string): string => {
    const m = /^((?:\d+!)?)(\d+(?:\.\d+)*)(.*)$/.exec(publicVersion(v));
    if (!m) return publicVersion(v);
    const release = (m[2] as string).split('.');
    while (release.length > 1 && release.at(-1) === '0') release.pop();
    return `${m[1] as string}${release.join('.')}${m[3] as string}`;
  };
  return key(a) === key(b);
}

/** Python versions agree when major.minor does ("3.11" and "3.11.2.final.0"). */
export function samePythonMinor(a: string, b: string): boolean {
  const mm = (v: string) => /^(\d+)\.(\d+)/.exec(v.trim())?.slice(1, 3).join('.');
  return mm(a) !== undefined && mm(a) === mm(b);
}

export interface ReportedVersions {
  /** scheduler, worker-1, ... */
  machine: string;
  /** Dask's get_versions()["packages"]: module name → version (null: not importable); "python" included. */
  packages: Record<string, string | null>;
}

/**
 * One line per package whose version differs anywhere from the client's, e.g.
 * "distributed: the client has 2024.1.0; scheduler, worker-1 have 2022.12.1". Packages the client does not
 * have are not compared (Dask's check does the same for its optional ones).
 */
export function versionMismatches(client: Record<string, string>, reported: ReportedVersions[]): string[] {
  const out: string[] = [];
  for (const [pkg, want] of Object.entries(client).sort(([a], [b]) => a.localeCompare(b))) {
    const same = pkg === 'python' ? samePythonMinor : sameVersion;
    const differing = new Map<string, string[]>();
    for (const r of reported) {
      const got = r.packages[pkg];
      if (typeof got === 'string' && same(want, got)) continue;
      const shown = typeof got === 'string' ? (pkg === 'python' ? got.split('.').slice(0, 3).join('.') : got) : 'none';
      differing.set(shown, [...(differing.get(shown) ?? []), r.machine]);
    }
    if (differing.size === 0) continue;
    const where = [...differing].map(([v, ms]) => `${ms.join(', ')} ${ms.length === 1 ? 'has' : 'have'} ${v}`).join('; ');
    out.push(`${pkg}: the client has ${want}; ${where}`);
  }
  return out;
}
