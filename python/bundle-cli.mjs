// The `skiff` CLI as one ES module for the Python wheel (python/build_wheel.py packs it), so a Python user needs
// only `node` on PATH: no node_modules, no checkout.
//
// The CLI finds files beside its own modules through `import.meta.url` (the agent bundle beside dist/broker/,
// package.json for its version, its own main.js to start a background broker). In one bundled file every module
// would share the bundle's URL, so each module's `import.meta.url` is rewritten to the URL it has in dist/,
// relative to the bundle, which sits where dist/broker/cli/main.js sits in a mirror of the package:
//
//   skiff/_bundled/package.json                    name, version, "type": "module"
//   skiff/_bundled/dist/broker/cli/main.js         this bundle (dist/python/cli/main.js here)
//   skiff/_bundled/dist/agent-bundle/agent/main.js the agent bundle, as `npm run bundle-agent` builds it
//
// Usage: node python/bundle-cli.mjs   (from `npm run build:python`)
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
// The CLI's entry in dist/ (package.json "bin") and the source it is compiled from.
const binPath = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.skiff;
if (typeof binPath !== 'string' || !/^dist\/.+\.js$/.test(binPath)) {
  throw new Error(`package.json "bin" must name the CLI under dist/ (got ${JSON.stringify(pkg.bin)})`);
}
const entrySource = join(ROOT, binPath.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
const bundleInDist = join(ROOT, binPath);
const OUT_FILE = join(ROOT, 'dist/python/cli/main.js');

/** The URL a module at `source` (.ts) has in dist/, written relative to the bundle's own URL. */
function distUrlExpression(source) {
  const inDist = join(ROOT, 'dist', relative(ROOT, source)).replace(/\.ts$/, '.js');
  const rel = relative(dirname(bundleInDist), inDist).split(sep).join('/');
  return `new URL(${JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)}, import.meta.url).href`;
}

const moduleUrls = {
  name: 'module-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return { contents: text, loader: 'ts' };
      return { contents: text.replaceAll('import.meta.url', distUrlExpression(args.path)), loader: 'ts' };
    });
  },
};

await build({
  entryPoints: [entrySource],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: OUT_FILE,
  // Optional native speed-ups of ws; it works without them (as the agent bundle does).
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
  // CommonJS dependencies (the AWS SDK, pino) call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);" },
  plugins: [moduleUrls],
});
