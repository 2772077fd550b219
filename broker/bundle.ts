// The agent bundle a VM downloads from the broker: the agent as one ES module (built by esbuild at
// `npm run build`, so a VM needs only Node), packed as a .tar.gz whose SHA-256 is pinned in the
// user-data. Content-addressed: the path names the hash, so a VM always runs exactly this broker's agent.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePath } from './api/routes.js';

export interface AgentBundle {
  /** URL path on the broker, e.g. /v1/agent/bundle/<sha256>.tgz */
  path: string;
  sha256: string;
  entry: string;
  file: string;
}

/** The built bundle directory beside this module in dist/, or undefined when running from source. */
export function bundleSourceDir(): string | undefined {
  const dir = fileURLToPath(new URL('../agent-bundle/', import.meta.url));
  return existsSync(join(dir, 'agent/main.js')) ? dir : undefined;
}

export function packAgentBundle(sourceDir: string, outDir: string): AgentBundle {
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const tmp = join(outDir, `pack-${process.pid}.tgz`);
  // Reproducible: fixed order, owners and times, and gzip without a timestamp.
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', sourceDir, '-cf', tmp.replace(/\.tgz$/, '.tar'), 'agent']);
  execFileSync('gzip', ['-n', '-f', tmp.replace(/\.tgz$/, '.tar')]);
  renameSync(tmp.replace(/\.tgz$/, '.tar.gz'), tmp);
  const sha256 = createHash('sha256').update(readFileSync(tmp)).digest('hex');
  const file = join(outDir, `${sha256}.tgz`);
  renameSync(tmp, file);
  return { path: bundlePath(sha256), sha256, entry: 'agent/main.js', file };
}
