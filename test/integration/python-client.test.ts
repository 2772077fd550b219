// The Python package (python/) as Dask users drive it: its pytest suite, run with Debian's Python against the
// built CLI (dist/), and the wheel `npm run build` makes (dist/python/), installed in a fresh venv. Each pytest test has a $SKIFF_HOME of its own and stops what it started; this runner
// gives the suite a temporary directory of its own and checks that every test ran and passed and that no home
// or key directory is left in it.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DASK_PYTHON, ROOT, SKIFF } from '../helpers/skiff.js';
import { startDataAccount } from '../helpers/data-account.js';

// The suite's tests, by file (parametrized ones count once per case). A test added or lost changes this.
const EXPECTED = {
  'test_async.py': 1,
  'test_cluster.py': 2,
  'test_config.py': 3,
  'test_data_access.py': 2,
  'test_errors.py': 9,
  'test_install.py': 1,
  'test_jupyter.py': 2,
  'test_reattach.py': 1,
  'test_scaling.py': 2,
  'test_units.py': 3,
  'test_wheel.py': 3,
};
// The suite's deadline: about 7 min on an idle two-core machine, 15 min when it is shared with other work.
const SUITE_TIMEOUT_MS = 20 * 60_000;
// This file may take longer than the configured per-file timeout (package.json's tap.timeout): the suite's
// deadline, and time for pytest's teardown after it.
t.setTimeout(SUITE_TIMEOUT_MS + 2 * 60_000);

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

interface Suite {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  cases: Array<{ file: string; name: string }>;
}

function readJunit(path: string): Suite {
  const xml = readFileSync(path, 'utf8');
  const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? '';
  const attr = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite)?.[1] ?? NaN);
  const cases = [...xml.matchAll(/<testcase\b[^>]*\bclassname="([^"]*)"[^>]*\bname="([^"]*)"/g)].map((m) => ({
    file: `${(m[1] ?? '').split('.').at(-1) ?? ''}.py`,
    name: m[2] ?? '',
  }));
  return { tests: attr('tests'), failures: attr('failures'), errors: attr('errors'), skipped: attr('skipped'), cases };
}

t.test('the Python package\'s pytest suite passes on Debian\'s Python against the built CLI', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'skiff-python-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const junit = join(tmp, 'junit.xml');
  // The data-access tests' data account (moto with IAM authentication on); its user's AWS config is theirs to set.
  const account = await startDataAccount();
  t.teardown(() => account.stop());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SKIFF_TEST_DATA_ACCOUNT: JSON.stringify({ clientEnv: account.clientEnv, endpoint: account.endpoint, bucket: account.bucket, object: account.object, body: account.body }),
    SKIFF_CLI: `${quote(process.execPath)} ${quote(SKIFF)}`,
    TMPDIR: tmp,
    PYTHONDONTWRITEBYTECODE: '1',
  };
  delete env['SKIFF_HOME'];
  const started = Date.now();
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      DASK_PYTHON,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--basetemp=${join(tmp, 'pytest')}`, `--junitxml=${junit}`, 'python/tests'],
      // SIGINT on timeout: pytest then runs every fixture's teardown, which stops the clusters it started.
      { cwd: ROOT, env, timeout: SUITE_TIMEOUT_MS, killSignal: 'SIGINT', maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
  t.comment(`pytest took ${((Date.now() - started) / 1000).toFixed(1)} s: ${r.stdout.trim().split('\n').at(-1) ?? ''}`);
  t.equal(r.code, 0, `pytest passes:\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`);
  const suite = readJunit(junit);
  const total = Object.values(EXPECTED).reduce((a, b) => a + b, 0);
  t.same({ tests: suite.tests, failures: suite.failures, errors: suite.errors, skipped: suite.skipped }, { tests: total, failures: 0, errors: 0, skipped: 0 }, 'every test ran and passed');
  const byFile: Record<string, number> = {};
  for (const c of suite.cases) byFile[c.file] = (byFile[c.file] ?? 0) + 1;
  t.same(byFile, EXPECTED, 'the tests of each file');
  const left = readdirSync(tmp).filter((f) => f !== 'pytest' && f !== 'junit.xml');
  t.same(left, [], 'every skiff home and key directory was removed');
});
