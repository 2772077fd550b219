// A package index for the tests (PyPI is not reachable here): tiny wheels built from source the test names,
// served with the PEP 503 simple API on 127.0.0.1, every request counted.
//
//   GET /simple/                 the projects
//   GET /simple/<project>/       links to its wheels, with #sha256=
//   GET /files/<wheel>           the wheel
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { listen } from './http-server.js';
import { join } from 'node:path';

export interface WheelSource {
  /** Distribution name as published, e.g. skiff-probe. */
  name: string;
  version: string;
  /** Module files, e.g. { 'skiff_probe/__init__.py': '__version__ = "1.2.3"\n' }. */
  files: Record<string, string>;
}

// A wheel is a zip with the modules, METADATA, WHEEL and RECORD (PEP 427); Python's zipfile writes it.
const BUILD_WHEEL = `
import base64, hashlib, json, sys, zipfile
spec = json.loads(sys.argv[1]); out = sys.argv[2]
dist = spec["name"].replace("-", "_")
info = f"{dist}-{spec['version']}.dist-info"
files = dict(spec["files"])
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\\nName: {spec['name']}\\nVersion: {spec['version']}\\n"
files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: skiff-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
name = f"{out}/{dist}-{spec['version']}-py3-none-any.whl"
with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as z:
    for path, text in files.items():
        z.writestr(path, text)
print(name)
`;

/** Builds the wheel into `dir` with Debian's Python; returns its path. */
export function buildWheel(dir: string, w: WheelSource): string {
  mkdirSync(dir, { recursive: true });
  return execFileSync('/usr/bin/python3', ['-c', BUILD_WHEEL, JSON.stringify(w), dir], { encoding: 'utf8' }).trim();
}

export interface PackageIndex {
  /** http://127.0.0.1:PORT/simple */
  url: string;
  /** Requests so far, by path (e.g. "/simple/skiff-probe/"). */
  requests(): string[];
  close(): Promise<void>;
}

const normalize = (n: string) => n.replace(/[-_.]+/g, '-').toLowerCase();

export interface PackageIndexOptions {
  /** Default 127.0.0.1; in the simulator's outer namespace, its internet address. */
  host?: string;
  port?: number;
  /** Called with each request's path as it arrives. */
  onRequest?: (path: string) => void;
}

/** Serves every wheel in `wheelDir` (read at each request, so wheels added later are served too). */
export async function startPackageIndex(wheelDir: string, opts: PackageIndexOptions = {}): Promise<PackageIndex> {
  const seen: string[] = [];
  const projects = (): Map<string, string[]> => {
    const m = new Map<string, string[]>();
    for (const f of readdirSync(wheelDir).filter((x) => x.endsWith('.whl'))) {
      const p = normalize(f.split('-')[0] as string);
      m.set(p, [...(m.get(p) ?? []), f]);
    }
    return m;
  };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] as string);
    seen.push(path);
    opts.onRequest?.(path);
    res.setHeader('cache-control', 'no-store');
    const html = (body: string) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body>\n${body}\n</body></html>\n`);
    };
    const all = projects();
    if (path === '/simple/' || path === '/simple') return html([...all.keys()].map((p) => `<a href="/simple/${p}/">${p}</a>`).join('\n'));
    const project = /^\/simple\/([^/]+)\/?$/.exec(path)?.[1];
    if (project !== undefined) {
      const files = all.get(normalize(project));
      if (!files) {
        res.writeHead(404);
        return res.end('not found');
      }
      return html(files.map((f) => `<a href="/files/${f}#sha256=${createHash('sha256').update(readFileSync(join(wheelDir, f))).digest('hex')}">${f}</a>`).join('\n'));
    }
    const file = /^\/files\/([^/]+\.whl)$/.exec(path)?.[1];
    if (file !== undefined && readdirSync(wheelDir).includes(file)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(readFileSync(join(wheelDir, file)));
    }
    res.writeHead(404);
    res.end('not found');
  });
  const bound = await listen(server, opts.host, opts.port);
  return { url: `http://${bound.authority}/simple`, requests: () => [...seen], close: bound.stop };
}
