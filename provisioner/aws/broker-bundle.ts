// The broker bundle setup uploads (built by `npm run build` into dist/broker-bundle: build/bundle-broker.mjs),
// packed reproducibly so the same build always has the same SHA-256, which the instance's user-data pins.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SkiffError } from '../../broker/api/errors.js';

export interface BrokerBundle {
  bytes: Buffer;
  sha256: string;
  version: string;
}

/** dist/broker-bundle beside this module's build (from source: the build's), or undefined when not built. */
export function brokerBundleDir(): string | undefined {
  const here = import.meta.url;
  const dir = fileURLToPath(new URL(here.endsWith('.ts') ? '../../dist/broker-bundle/' : '../../broker-bundle/', here));
  return existsSync(join(dir, 'dist/broker/cli/main.js')) ? dir : undefined;
}

export function packBrokerBundle(sourceDir: string | undefined = brokerBundleDir()): BrokerBundle {
  if (sourceDir === undefined || !existsSync(join(sourceDir, 'dist/broker/cli/main.js')) || !existsSync(join(sourceDir, 'dist/broker/agent-bundle/agent/main.js'))) {
    throw new SkiffError('PRV_INVALID_REQUEST', `no broker bundle${sourceDir ? ` in ${sourceDir}` : ''}; run \`npm run build\` (it builds dist/broker-bundle)`);
  }
  const version = (JSON.parse(readFileSync(join(sourceDir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  const tmp = mkdtempSync(join(tmpdir(), 'skiff-broker-bundle-'));
  try {
    const tar = join(tmp, 'broker.tar');
    // Reproducible: fixed order, owners and times, and gzip without a name or timestamp.
    execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', sourceDir, '-cf', tar, 'package.json', 'dist']);
    execFileSync('gzip', ['-n', '-f', tar]);
    const bytes = readFileSync(`${tar}.gz`);
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), version };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
