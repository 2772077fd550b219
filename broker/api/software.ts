// A cluster's software environment: what the client runs (its Python's major.minor and the exact versions of
// the packages Dask's version check compares) plus what the user names, as one canonical, hashed spec. Every
// machine builds a virtual environment per hash before Dask starts; `--software system` keeps the machine's own
// Dask as it is (the client's versions are still recorded, and compared once the cluster runs).
import { createHash } from 'node:crypto';
import { SkiffError, type ErrorCode } from './errors.js';
import { formatRequirement, mergeRequirements, normalizeName, parseRequirement, pinnedVersion, type Requirement } from './requirements.js';
import { publicVersion } from './versions.js';

export type SoftwareMode = 'client' | 'system';

/** The distributions Dask's own version check compares (distributed/versions.py), read on the client. */
export const DASK_COMPARED = ['dask', 'distributed', 'cloudpickle', 'msgpack', 'toolz', 'tornado', 'lz4', 'numpy', 'pandas'] as const;
/** Without these a client cannot talk to a cluster: the client's environment must have them. */
export const DASK_REQUIRED = ['dask', 'distributed'] as const;

/** What `skiff up` sends: read from the client's Python, plus the user's requirements as written. */
export interface SoftwareRequest {
  mode: SoftwareMode;
  /** The client Python's major.minor, e.g. "3.11" (absent with --software system and no client Python found). */
  python?: string;
  /** The interpreter it was read from (shown, not used on the machines). */
  pythonPath?: string;
  /** Exact versions of DASK_COMPARED as installed on the client (those present). */
  client?: Record<string, string>;
  /** The user's requirements (--packages and --requirements), one each, pip syntax. */
  packages?: string[];
  /** May carry credentials (https://user:token@host/simple): kept by the broker, given to machines after enrolment. */
  indexUrl?: string;
  extraIndexUrls?: string[];
}

/** What the broker records and shows: the canonical spec and its hash. */
export interface SoftwareSpec {
  mode: SoftwareMode;
  python?: string;
  pythonPath?: string;
  client?: Record<string, string>;
  /** Canonical requirements every machine installs (the client's pins first merged with the user's), sorted. */
  packages: string[];
  /** SHA-256 (hex) of the canonical form: python and packages. The index is not part of it (see specHash). */
  hash: string;
  /** Masked (user:****@) in what the API shows. */
  indexUrl?: string;
  extraIndexUrls?: string[];
  /** Per machine, its latest step: "installing 1 of 7 packages", "ready: reused", ... */
  machines?: Record<string, string>;
}

/** What a machine is told at enrolment (EnrolResponse.software): the index in full, only over the agent's TLS. */
export interface MachineSoftware {
  mode: SoftwareMode;
  hash: string;
  python?: string;
  packages: string[];
  client?: Record<string, string>;
  indexUrl?: string;
  extraIndexUrls?: string[];
}

const PYTHON_MINOR = /^3\.\d{1,2}$/;
const MAX_PACKAGES = 500;

/**
 * Stable over the canonical form: the same python and requirements in any order and spelling give the same
 * hash. The index is left out on purpose: a mirror serves the same files, and a rotated token in its URL
 * must not make every machine build its environment again.
 */
export function specHash(python: string | undefined, packages: readonly string[]): string {
  const canonical = JSON.stringify({ format: 1, python: python ?? null, packages: [...packages].sort() });
  return createHash('sha256').update(canonical).digest('hex');
}

// A URL in text: scheme, authority (user:secret@host:port), then path, query and fragment (up to whitespace or a quote).
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#'"<>]*)([/?#][^\s'"<>]*)?/gi;

/**
 * Every URL in `text` shown by its scheme and host only (for logs and what the API shows): credentials can sit in the
 * user part (`https://user:token@mirror/simple`) and in the path (`https://dl.example/<TOKEN>/simple`), so both go.
 * Punctuation after a URL ("…/simple, http://…") stays.
 */
export function maskUrl(text: string): string {
  return text.replace(URL_IN_TEXT, (_m, scheme: string, authority: string, rest: string | undefined) => {
    const host = authority.slice(authority.lastIndexOf('@') + 1);
    if (rest === undefined) return `${scheme}${host}`;
    const trailing = /[,.;:!)\]]+$/.exec(rest)?.[0] ?? '';
    const body = rest.slice(0, rest.length - trailing.length);
    return `${scheme}${host}${body === '' || body === '/' ? body : '/…'}${trailing}`;
  });
}

function checkIndexUrl(url: unknown, what: string, code: ErrorCode): string {
  if (typeof url !== 'string' || !/^https?:\/\/[^\s]+$/.test(url)) {
    throw new SkiffError(code, `${what} must be an http(s) URL of a package index (PEP 503 simple API); got ${JSON.stringify(typeof url === 'string' ? maskUrl(url) : url)}`);
  }
  return url;
}

/** Checks a request and builds its spec; every contradiction is refused here, naming what conflicts. */
export function buildSoftwareSpec(raw: unknown, code: ErrorCode = 'BRK_BAD_REQUEST'): SoftwareSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SkiffError(code, 'software must be an object: {mode, python, client, packages, ...}');
  const r = raw as Record<string, unknown>;
  const mode = r['mode'];
  if (mode !== 'client' && mode !== 'system') throw new SkiffError(code, `software mode must be client or system; got ${JSON.stringify(mode)}`);
  const python = r['python'];
  if (python !== undefined && (typeof python !== 'string' || !PYTHON_MINOR.test(python))) {
    throw new SkiffError(code, `software python must be a major.minor version like 3.11; got ${JSON.stringify(python)}`);
  }
  const client: Record<string, string> = {};
  if (r['client'] !== undefined) {
    if (typeof r['client'] !== 'object' || r['client'] === null || Array.isArray(r['client'])) throw new SkiffError(code, 'software client must map package names to versions');
    for (const [k, v] of Object.entries(r['client'] as Record<string, unknown>)) {
      if (!(DASK_COMPARED as readonly string[]).includes(k)) throw new SkiffError(code, `software client lists ${k}; only ${DASK_COMPARED.join(', ')} are read from the client`);
      if (typeof v !== 'string' || !/^[A-Za-z0-9_.!+-]{1,64}$/.test(v)) throw new SkiffError(code, `software client version of ${k} is not a version: ${JSON.stringify(v)}`);
      client[k] = v;
    }
  }
  const given = r['packages'] ?? [];
  if (!Array.isArray(given) || given.some((p) => typeof p !== 'string') || given.length > MAX_PACKAGES) {
    throw new SkiffError(code, `software packages must be a list of at most ${MAX_PACKAGES} requirement strings`);
  }
  const user = (given as string[]).map((p) => parseRequirement(p, { code }));
  if (mode === 'system' && user.length > 0) {
    throw new SkiffError(code, `--packages/--requirements (${user.map(formatRequirement).join(' ')}) need --software client: with --software system the machines run their own environment as it is`);
  }
  if (mode === 'client') {
    if (python === undefined) throw new SkiffError(code, 'software mode client needs the client Python\'s major.minor (python)');
    const missing = DASK_REQUIRED.filter((p) => client[p] === undefined);
    if (missing.length > 0) throw new SkiffError(code, `the client environment lacks ${missing.join(' and ')}: a Dask client needs both (install them, pass --python PATH of one that has them, or --software system)`);
  }
  // The client's versions are pins; a user's requirement of the same package must agree with them.
  const pins: Requirement[] = [];
  const userByName = new Map(user.filter((u) => u.marker === undefined).map((u) => [u.name, u]));
  for (const [name, version] of Object.entries(client)) {
    const pin: Requirement = { name: normalizeName(name), extras: [], specifier: `==${publicVersion(version)}` };
    const u = userByName.get(pin.name);
    if (u && (u.url !== undefined || (u.specifier !== '' && pinnedVersion(u) !== publicVersion(version)))) {
      throw new SkiffError(code, `the packages ask for ${formatRequirement(u)} but the client runs ${name} ${version}; the cluster runs the client's version (change the client's environment, or point --python at another)`);
    }
    if (u) pin.extras = u.extras;
    pins.push(pin);
  }
  const merged = mode === 'client'
    ? mergeRequirements([...pins, ...user.filter((u) => !(u.marker === undefined && client[u.name] !== undefined))], code)
    : [];
  const packages = merged.map(formatRequirement);
  const indexUrl = r['indexUrl'] === undefined ? undefined : checkIndexUrl(r['indexUrl'], '--pip-index-url', code);
  const extra = r['extraIndexUrls'] ?? [];
  if (!Array.isArray(extra)) throw new SkiffError(code, 'software extraIndexUrls must be a list of URLs');
  const extraIndexUrls = extra.map((u) => checkIndexUrl(u, '--pip-extra-index-url', code));
  const pythonPath = typeof r['pythonPath'] === 'string' ? r['pythonPath'].slice(0, 500) : undefined;
  return {
    mode, ...(python !== undefined ? { python } : {}), ...(pythonPath !== undefined ? { pythonPath } : {}),
    ...(Object.keys(client).length > 0 ? { client } : {}), packages, hash: specHash(python, packages),
    ...(indexUrl !== undefined ? { indexUrl } : {}), ...(extraIndexUrls.length > 0 ? { extraIndexUrls } : {}),
  };
}

/** The spec as the API shows it: index URLs and URLs in requirements (`pkg @ https://…`) masked. */
export function softwareView(s: SoftwareSpec): SoftwareSpec {
  return {
    ...s,
    packages: s.packages.map(maskUrl),
    ...(s.indexUrl !== undefined ? { indexUrl: maskUrl(s.indexUrl) } : {}),
    ...(s.extraIndexUrls ? { extraIndexUrls: s.extraIndexUrls.map(maskUrl) } : {}),
  };
}
