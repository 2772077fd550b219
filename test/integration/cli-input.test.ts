// Bad input gets one clear message and a non-zero exit, and changes nothing.
import t from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeHome } from '../helpers/skiff.js';

t.test('bad input is refused with one clear message and creates nothing', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const cases: Array<[string[], RegExp, number]> = [
    [['up', '--workers', '-1'], /--workers must be from 0 to 1000; got -1/, 2],
    [['up', '--workers', 'abc'], /--workers takes a whole number; got "abc"/, 2],
    [['up', '--workers'], /--workers needs a value/, 2],
    [['up', '--backend', 'gcp'], /unknown backend "gcp"; choose one of: local, aws/, 2],
    [['up', '--name', 'Bad Name!'], /cluster name "Bad Name!" is not valid/, 2],
    [['up', '--wait-timeout', 'soon'], /--wait-timeout takes a duration like 90s/, 2],
    [['up', '--frobnicate'], /unknown option --frobnicate/, 2],
    [['frobnicate'], /unknown command "frobnicate"/, 2],
    [['status'], /takes one cluster name or id/, 2],
    [['credentials', 'x'], /needs --out DIR/, 2],
  ];
  for (const [args, message, code] of cases) {
    const r = await h.run(args);
    t.equal(r.code, code, `skiff ${args.join(' ')} exits ${code}`);
    t.match(r.stderr, message, `skiff ${args.join(' ')}: ${r.stderr.trim()}`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.equal(r.stdout, '', 'nothing on stdout');
  }
  t.notOk(existsSync(join(h.home, 'broker')), 'usage errors start no broker and write no state');

  for (const args of [['status', 'nope'], ['down', 'nope'], ['credentials', 'nope', '--out', join(h.home, 'c')]]) {
    const r = await h.run(args);
    t.equal(r.code, 1, `skiff ${args.join(' ')} fails`);
    t.match(r.stderr, /no cluster named or with id "nope"; `skiff list` shows them/);
  }
  const list = await h.run(['list', '--json']);
  t.same(JSON.parse(list.stdout), [], 'no cluster was created');
  t.notOk(existsSync(join(h.home, 'machines')) && readdirSync(join(h.home, 'machines')).length > 0, 'no machine was started');
  t.notOk(existsSync(join(h.home, 'c')), 'no credentials were written');
});

t.test('with --json a refusal is one JSON line on stderr with the code and its HTTP status', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const usage = await h.run(['up', '--workers', '-1', '--json']);
  t.equal(usage.code, 2);
  t.same(JSON.parse(usage.stderr), { error: { code: 'CLI_USAGE', message: '--workers must be from 0 to 1000; got -1', status: 400, retryable: false } });
  t.equal(usage.stdout, '');
  const unknown = await h.run(['frobnicate', 'x', '--json']);
  t.match(JSON.parse(unknown.stderr), { error: { code: 'CLI_USAGE', message: /^unknown command "frobnicate"/ } });
  for (const args of [['status', 'nope', '--json'], ['down', 'nope', '--json'], ['credentials', 'nope', '--out', join(h.home, 'c'), '--json']]) {
    const r = await h.run(args);
    t.equal(r.code, 1, `skiff ${args.join(' ')} fails`);
    const last = r.stderr.trim().split('\n').at(-1) ?? '';
    t.same(JSON.parse(last), { error: { code: 'BRK_NOT_FOUND', message: 'no cluster named or with id "nope"; `skiff list` shows them', status: 404, retryable: false } }, `skiff ${args[0]}: the broker's code`);
  }
});

t.test('skiff --help and each command\'s --help say how to use them', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const top = await h.run(['--help']);
  t.equal(top.code, 0);
  for (const c of ['up', 'list', 'status', 'down', 'credentials', 'broker']) t.match(top.stdout, new RegExp(`\\n  ${c} `));
  const up = await h.run(['up', '--help']);
  t.match(up.stdout, /usage: skiff up/);
  t.match(up.stdout, /--workers N\s+number of Dask workers \(default 2\)/);
  t.match(up.stdout, /--wait-timeout DURATION/);
});

t.test('a broken $SKIFF_HOME/config.json stops the broker at once, with the reason', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  writeFileSync(join(h.home, 'config.json'), '{"watchdog":{"idleTimeout":"soon"}}');
  const started = Date.now();
  const r = await h.run(['list']);
  t.equal(r.code, 1);
  t.match(r.stderr, /config\.json: watchdog\.idleTimeout must be a duration like "20m", got "soon"/);
  t.ok(Date.now() - started < 10_000, 'without waiting for a broker that will never answer');
});

t.test('cleartext and emulator foot-guns: a broker off loopback without TLS, and the tests\' identity certificate against real AWS, refuse to start', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const open = await h.run(['broker', '--host', '0.0.0.0', '--port', '0']);
  t.equal(open.code, 1, 'broker --host 0.0.0.0 without TLS fails');
  t.match(open.stderr, /would listen on 0\.0\.0\.0 without TLS.*give --tls-cert and --tls-key/);
  const cert = join(h.home, 'identity.pem');
  writeFileSync(cert, 'not read: refused before');
  h.env['SKIFF_AWS_IDENTITY_CERT'] = cert;
  h.env['AWS_ENDPOINT_URL'] = 'https://ec2-fips.us-east-1.amazonaws.com';
  const fips = await h.run(['broker', '--port', '0']);
  t.equal(fips.code, 1, 'a real AWS endpoint is not an emulator');
  t.match(fips.stderr, /SKIFF_AWS_IDENTITY_CERT is for tests against an AWS emulator .* https:\/\/ec2-fips\.us-east-1\.amazonaws\.com is not one/);
  t.notOk(existsSync(join(h.home, 'broker', 'broker.json')), 'no broker started');
});
