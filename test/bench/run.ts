// `npm run bench`: runs every test/bench/*.bench.ts in its own Node process, one after another, so one
// benchmark's garbage or threads never skew the next. Each prints its own figures beside a baseline
// measured in the same run; this runner only sequences them and fails if one fails.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n== ${f.replace(/\.bench\.ts$/, '')} ==\n`);
  // The SDK's notice about its 2027 releases would only clutter the figures.
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit', env });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`!! ${f} failed (exit ${r.status ?? r.signal})\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
