// Requirements in pip's syntax (PEP 508 lines, as in a requirements file or `--packages`), parsed into one
// canonical form so the same environment always has the same spec hash, whatever order or spelling the user
// wrote. What a machine cannot reproduce is refused here, before any cluster exists: editable installs and
// local paths (a directory or archive on the client's disk is not on the machine).
//
//   name[extra,...] (op version, ...) ; marker        "xarray==2024.1.0", "dask[dataframe]>=2024.1,<2025"
//   name[extra,...] @ url ; marker                    "probe @ https://example.com/probe-1.0-py3-none-any.whl"
import { SkiffError, type ErrorCode } from './errors.js';

export interface Requirement {
  /** Normalized as PEP 503 says: lower case, runs of -_. as one -. */
  name: string;
  extras: string[];
  /** Clauses without spaces, sorted and joined by commas ("<2,>=1.0"); '' when any version goes. */
  specifier: string;
  url?: string;
  marker?: string;
}

export interface ParsedRequirements {
  requirements: Requirement[];
  /** -i/--index-url and --extra-index-url lines of a requirements file. */
  indexUrl?: string;
  extraIndexUrls: string[];
}

const NAME = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*/;
const EXTRAS = /^\[\s*([A-Za-z0-9._-]+(?:\s*,\s*[A-Za-z0-9._-]+)*)?\s*\]\s*/;
const CLAUSE = /^(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9_.*+!-]+)$/;
const MARKER_TOKEN =
  /^\s*(?:"[^"]*"|'[^']*'|python_version|python_full_version|os_name|sys_platform|platform_release|platform_system|platform_version|platform_machine|platform_python_implementation|implementation_name|implementation_version|extra|not\s+in|in|and|or|===|==|!=|<=|>=|~=|<|>|\(|\))/;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const ARCHIVE = /\.(whl|tar\.gz|tgz|tar\.bz2|zip)$/i;

const CANNOT_REPRODUCE = 'cannot be reproduced on a cluster machine: build a wheel, serve it from an index (--pip-index-url) and name its version, or give an https URL (NAME @ URL)';

export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export function formatRequirement(r: Requirement): string {
  const extras = r.extras.length > 0 ? `[${r.extras.join(',')}]` : '';
  if (r.url !== undefined) return `${r.name}${extras} @ ${r.url}${r.marker ? ` ; ${r.marker}` : ''}`;
  return `${r.name}${extras}${r.specifier}${r.marker ? `; ${r.marker}` : ''}`;
}

/** The one version a requirement pins exactly ("==1.2.3" or "===1.2.3"), if it does. */
export function pinnedVersion(r: Requirement): string | undefined {
  if (r.url !== undefined) return undefined;
  const m = /^={2,3}([^,*]+)$/.exec(r.specifier);
  return m?.[1];
}

function fail(code: ErrorCode, where: string, message: string): never {
  throw new SkiffError(code, `${where}: ${message}`);
}

function isLocalPath(text: string): boolean {
  if (/^file:/i.test(text)) return true;
  if (SCHEME.test(text)) return false;
  return /^[./~]/.test(text) || text.includes('/') || text.includes('\\') || ARCHIVE.test(text);
}

function parseMarker(text: string, code: ErrorCode, where: string): string {
  let rest = text.trim();
  if (rest === '') fail(code, where, 'an environment marker follows ";" but is empty');
  const tokens: string[] = [];
  while (rest.length > 0) {
    const m = MARKER_TOKEN.exec(rest);
    if (!m) fail(code, where, `environment marker "${text.trim()}" is not valid at "${rest.trim()}" (see PEP 508: python_version < "3.12", sys_platform == "linux", ...)`);
    const tok = m[0].trim().replace(/\s+/g, ' ');
    // One quoting style, so 'a' and "a" give the same hash.
    tokens.push(tok.startsWith("'") && !tok.includes('"') ? `"${tok.slice(1, -1)}"` : tok);
    rest = rest.slice(m[0].length).trimStart();
  }
  if (!markerGrammar(tokens)) fail(code, where, `environment marker "${text.trim()}" is not valid: write VALUE OP VALUE joined by and/or (see PEP 508: python_version < "3.12")`);
  return tokens.join(' ').replace(/\( /g, '(').replace(/ \)/g, ')');
}

//   expr := atom (("and" | "or") atom)*      atom := "(" expr ")" | value op value      value := variable | "string"
function markerGrammar(tokens: string[]): boolean {
  let i = 0;
  const isValue = (tok: string | undefined) => tok !== undefined && /^("|[a-z_]+$)/.test(tok) && !['and', 'or', 'in', 'not in'].includes(tok);
  const isOp = (tok: string | undefined) => tok !== undefined && /^(===|==|!=|<=|>=|~=|<|>|in|not in)$/.test(tok);
  const atom = (): boolean => {
    if (tokens[i] === '(') {
      i++;
      if (!expr() || tokens[i] !== ')') return false;
      i++;
      return true;
    }
    if (!isValue(tokens[i]) || !isOp(tokens[i + 1]) || !isValue(tokens[i + 2])) return false;
    i += 3;
    return true;
  };
  const expr = (): boolean => {
    if (!atom()) return false;
    while (tokens[i] === 'and' || tokens[i] === 'or') {
      i++;
      if (!atom()) return false;
    }
    return true;
  };
  return expr() && i === tokens.length;
}

/** One requirement (a line of a requirements file without options, or one word of --packages). */
export function parseRequirement(text: string, opts: { code?: ErrorCode; where?: string } = {}): Requirement {
  const code = opts.code ?? 'BRK_BAD_REQUEST';
  const where = opts.where ?? `requirement "${text}"`;
  const line = text.trim();
  if (line === '') fail(code, where, 'is empty');
  if (/^(-e|--editable)(\s|=|$)/.test(line)) fail(code, where, `is an editable install, which ${CANNOT_REPRODUCE}`);
  if (line.startsWith('-')) fail(code, where, `option ${line.split(/[\s=]/)[0]} is not supported here; list package requirements (NAME==VERSION), -i/--index-url or --extra-index-url`);
  if (isLocalPath(line.split(/[\s;]/)[0] ?? '')) fail(code, where, `is a local path, which ${CANNOT_REPRODUCE}`);
  if (SCHEME.test(line)) fail(code, where, 'is a URL without a package name: write it as NAME @ URL');
  const n = NAME.exec(line);
  if (!n) fail(code, where, 'does not start with a package name (letters, digits, -, _ and .)');
  let rest = line.slice(n[0].length);
  let extras: string[] = [];
  const e = EXTRAS.exec(rest);
  if (e) {
    extras = [...new Set((e[1] ?? '').split(',').map((x) => normalizeName(x.trim())).filter(Boolean))].sort();
    rest = rest.slice(e[0].length);
  } else if (rest.startsWith('[')) fail(code, where, 'has extras that are not a comma-separated list of names in [ ]');
  const req: Requirement = { name: normalizeName(n[1] as string), extras, specifier: '' };
  if (rest.startsWith('@')) {
    // A URL ends at whitespace; a marker after it must be separated by a space (PEP 508).
    const u = /^@\s*(\S+)\s*(.*)$/.exec(rest);
    if (!u) fail(code, where, 'has "@" without a URL');
    const url = u[1] as string;
    if (isLocalPath(url)) fail(code, where, `points at a local file (${url}), which ${CANNOT_REPRODUCE}`);
    if (!SCHEME.test(url)) fail(code, where, `has "${url}" after "@", which is not a URL (https://..., git+https://...)`);
    req.url = url;
    rest = u[2] as string;
    if (rest !== '' && !rest.startsWith(';')) fail(code, where, `has "${rest}" after its URL; only "; marker" may follow`);
  } else {
    const semi = rest.indexOf(';');
    let spec = (semi >= 0 ? rest.slice(0, semi) : rest).trim();
    rest = semi >= 0 ? rest.slice(semi) : '';
    if (spec.startsWith('(') && spec.endsWith(')')) spec = spec.slice(1, -1).trim();
    if (spec !== '') {
      const clauses = spec.split(',').map((c) => c.trim());
      const out: string[] = [];
      for (const c of clauses) {
        const m = CLAUSE.exec(c.replace(/\s+/g, ' '));
        if (!m) fail(code, where, `has a version clause "${c}" that is not one of ==, !=, <=, >=, <, >, ~=, === followed by a version`);
        out.push(`${m[1]}${m[2]}`);
      }
      req.specifier = [...new Set(out)].sort().join(',');
    }
  }
  if (rest.startsWith(';')) req.marker = parseMarker(rest.slice(1), code, where);
  else if (rest.trim() !== '') fail(code, where, `has "${rest.trim()}" where a version or "; marker" was expected`);
  return req;
}

/** Keyed by name and marker: the same name twice with different versions is a contradiction, said here. */
export function mergeRequirements(list: Requirement[], code: ErrorCode = 'BRK_BAD_REQUEST'): Requirement[] {
  const byKey = new Map<string, Requirement>();
  for (const r of list) {
    const key = `${r.name};${r.marker ?? ''}`;
    const seen = byKey.get(key);
    if (seen && formatRequirement(seen) !== formatRequirement(r)) {
      throw new SkiffError(code, `${r.name} is asked for twice, as "${formatRequirement(seen)}" and as "${formatRequirement(r)}"; keep one`);
    }
    byKey.set(key, r);
  }
  return [...byKey.values()].sort((a, b) => formatRequirement(a).localeCompare(formatRequirement(b)));
}

/** A requirements file: comments (# at the start or after a space), line continuations, index options. */
export function parseRequirementsFile(text: string, opts: { file: string; code?: ErrorCode }): ParsedRequirements {
  const code = opts.code ?? 'BRK_BAD_REQUEST';
  const out: ParsedRequirements = { requirements: [], extraIndexUrls: [] };
  const physical = text.split(/\r?\n/);
  for (let i = 0; i < physical.length; i++) {
    const lineNo = i + 1;
    let line = physical[i] as string;
    while (line.endsWith('\\') && i + 1 < physical.length) line = line.slice(0, -1) + (physical[++i] as string);
    line = line.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const where = `${opts.file} line ${lineNo} ("${line}")`;
    const opt = /^(-i|--index-url|--extra-index-url)(?:\s*=\s*|\s+)(\S+)$/.exec(line);
    if (opt) {
      if (opt[1] === '--extra-index-url') out.extraIndexUrls.push(opt[2] as string);
      else out.indexUrl = opt[2] as string;
      continue;
    }
    if (/^(-r|--requirement|-c|--constraint)(\s|=|$)/.test(line)) {
      fail(code, where, 'includes another file; put its requirements in this one (a machine has no copy of it)');
    }
    out.requirements.push(parseRequirement(line, { code, where }));
  }
  return out;
}

/** `--packages "xarray==2024.1.0 s3fs"`: requirements separated by spaces (one with spaces in it goes in a file). */
export function parsePackageList(text: string, code: ErrorCode = 'BRK_BAD_REQUEST'): Requirement[] {
  return text.split(/\s+/).filter(Boolean).map((w) => parseRequirement(w, { code, where: `--packages "${w}"` }));
}
