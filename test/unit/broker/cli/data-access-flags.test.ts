import t from 'tap';
import { dataAccessFlags, refreshDelayMs, SESSION_SECONDS } from '../../../../broker/cli/data-access.js';
import { parseArgs } from '../../../../broker/cli/args.js';

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const spec = {
  env: { kind: 'list', help: '' }, 'secret-env': { kind: 'list', help: '' },
  'forward-aws-credentials': { kind: 'boolean', help: '' }, 'no-forward-aws-credentials': { kind: 'boolean', help: '' },
} as const;
const flags = (argv: string[]) => parseArgs(argv, spec, 'up').flags;

t.test('--env and --secret-env may be repeated; values come from the shell; forwarding defaults by backend', async (t) => {
  t.same(flags(['--env', 'A=1', '--env=B=x=y', '--secret-env', 'T']), { env: ['A=1', 'B=x=y'], 'secret-env': ['T'] }, 'a list flag keeps every value, in order');
  t.same(dataAccessFlags(flags(['--env', 'A=1', '--env', 'B=x=y', '--env', 'E=', '--secret-env', 'T', '--secret-env', 'T']), 'local', env({ T: 'tv' })),
    { env: { A: '1', B: 'x=y', E: '' }, secretEnv: ['T'], secretValues: { T: 'tv' }, forwardAws: false });
  t.equal(dataAccessFlags({}, 'aws', env({})).forwardAws, true, 'on aws: forwarded unless told not to');
  t.equal(dataAccessFlags({ 'no-forward-aws-credentials': true }, 'aws', env({})).forwardAws, false);
  t.equal(dataAccessFlags({ 'forward-aws-credentials': true }, 'local', env({})).forwardAws, true, 'locally: only when asked');
  t.same(dataAccessFlags({}, 'local', env({})), { secretEnv: [], secretValues: {}, forwardAws: false });
});

t.test('every mistake is a usage error naming it', async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp, Record<string, string>?]> = [
    [{ env: ['1X=2'] }, /--env name "1X" is not valid/],
    [{ env: ['=2'] }, /--env takes NAME=VALUE; got "=2"/],
    [{ env: ['NOVALUE'] }, /--env takes NAME=VALUE/],
    [{ env: ['SKIFF_HOME=/x'] }, /reserved/],
    [{ 'secret-env': ['UNSET'] }, /--secret-env UNSET: UNSET is not set in this shell's environment/],
    [{ 'secret-env': ['A'], env: ['A=1'] }, /A is given both/, { A: 'x' }],
    [{ 'secret-env': ['BAD-NAME'] }, /--secret-env name "BAD-NAME" is not valid/],
    [{ 'forward-aws-credentials': true, 'no-forward-aws-credentials': true }, /not both/],
  ];
  for (const [f, message, vars] of bad) t.throws(() => dataAccessFlags(f, 'local', env(vars ?? {})), { code: 'CLI_USAGE', message }, JSON.stringify(f));
});

t.test('fresh credentials at half their remaining life, never more often than every 30 s unless a test says so', async (t) => {
  const now = Date.parse('2026-12-02T15:00:00Z');
  t.equal(refreshDelayMs({ accessKeyId: 'A', secretAccessKey: 'S', expiration: '2026-12-02T16:00:00Z' }, now), 30 * 60_000);
  t.equal(refreshDelayMs({ accessKeyId: 'A', secretAccessKey: 'S', expiration: '2026-12-02T15:00:10Z' }, now), 30_000);
  t.equal(refreshDelayMs({ accessKeyId: 'A', secretAccessKey: 'S' }, now), SESSION_SECONDS * 500, 'no expiry: half a session');
  t.equal(refreshDelayMs(undefined, now, 2000), 2000);
});
