// The broker bundle a workspace's broker instance boots from (`skiff setup aws` packs it, uploads it to the
// workspace's bucket and pins its SHA-256 in the instance's user-data): the CLI as one ES module, beside the agent
// bundle it serves to cluster machines, and a package.json naming its version. Laid out as the CLI finds its
// files relative to itself: dist/broker/cli/main.js reads ../../../package.json; the agent bundle sits at
// dist/broker/agent-bundle/ (broker/bundle.ts looks one level up from the module, which here is the bundle).
import { build } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const out = 'dist/broker-bundle';
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: ['broker/cli/main.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: `${out}/dist/broker/cli/main.js`,
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
  banner: { js: "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);" },
});
mkdirSync(`${out}/dist/broker/agent-bundle`, { recursive: true });
cpSync('dist/agent-bundle/agent', `${out}/dist/broker/agent-bundle/agent`, { recursive: true });
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
writeFileSync(`${out}/package.json`, `${JSON.stringify({ name: 'skiff-broker', version, type: 'module', private: true }, null, 2)}\n`);
