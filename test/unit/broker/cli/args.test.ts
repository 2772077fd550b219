import t from 'tap';
import { formatDurationMs, parseArgs, parseDurationMs } from '../../../../broker/cli/args.js';

const spec = {
  workers: { kind: 'int' as const, help: '', default: 2 },
  name: { kind: 'string' as const, help: '' },
  json: { kind: 'boolean' as const, help: '' },
  wait: { kind: 'duration' as const, help: '' },
};

t.test('parses flags in both --k v and --k=v forms, with defaults', async (t) => {
  t.same(parseArgs(['x', '--workers', '3', '--name=a', '--json'], spec, 'up'), { positionals: ['x'], flags: { workers: 3, name: 'a', json: true } });
  t.same(parseArgs([], spec, 'up').flags, { workers: 2 });
  t.same(parseArgs(['--wait', '90s'], spec, 'up').flags['wait'], 90_000);
});

t.test('durations take ms, s, m, h, d, combinations, or bare seconds', async (t) => {
  const table: Array<[string, number]> = [['500ms', 500], ['10s', 10_000], ['2m', 120_000], ['1h', 3_600_000], ['5', 5000], ['1.5s', 1500], ['1h30m', 5_400_000], ['1d', 86_400_000]];
  for (const [text, ms] of table) t.equal(parseDurationMs(text, '--x'), ms, text);
  for (const bad of ['', 'soon', '-1s', '0s', '5 parsecs']) t.throws(() => parseDurationMs(bad, '--x'), { code: 'CLI_USAGE' }, bad);
});

t.test('malformed flags are usage errors naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--workers', 'abc'], /--workers takes a whole number; got "abc"/],
    [['--workers', '1.5'], /whole number/],
    [['--workers'], /--workers needs a value/],
    [['--name', '--json'], /--name needs a value/],
    [['--json=yes'], /--json takes no value/],
    [['--nope'], /unknown option --nope for `skiff up`/],
  ];
  for (const [argv, re] of cases) {
    t.throws(() => parseArgs(argv, spec, 'up'), { code: 'CLI_USAGE', message: re }, argv.join(' '));
  }
});

t.test('durations print the way users write them', async (t) => {
  const table: Array<[number, string]> = [[300, '300ms'], [10_000, '10s'], [120_000, '2m'], [150_000, '2m30s'], [3_600_000, '1h'], [5_400_000, '1h30m'], [0, '0ms']];
  for (const [ms, text] of table) t.equal(formatDurationMs(ms), text, text);
  for (const text of ['10s', '2m', '1h']) t.equal(formatDurationMs(parseDurationMs(text, '--x')), text, `${text} round-trips`);
});
