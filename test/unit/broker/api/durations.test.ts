import t from 'tap';
import { formatDuration, parseDurationMs } from '../../../../broker/api/durations.js';

t.test('parses the durations users type', async (t) => {
  const cases: Array<[string, number]> = [['10s', 10_000], ['2m', 120_000], ['20m', 1_200_000], ['1h', 3_600_000], ['1h30m', 5_400_000], ['500ms', 500], ['1.5s', 1500], [' 5m ', 300_000]];
  for (const [text, ms] of cases) t.equal(parseDurationMs(text), ms, text);
  for (const bad of ['10', '', 'ten minutes', '5x', '-5s', '5 m']) {
    t.throws(() => parseDurationMs(bad), { name: 'RangeError', message: /is not a duration; write a number with a unit/ }, JSON.stringify(bad));
  }
});

t.test('formats durations the way they are typed', async (t) => {
  const cases: Array<[number, string]> = [[10_000, '10s'], [120_000, '2m'], [1_200_000, '20m'], [3_600_000, '1h'], [5_400_000, '1h30m'], [1500, '1.5s'], [250, '250ms'], [90_000, '1m30s']];
  for (const [ms, text] of cases) t.equal(formatDuration(ms), text, text);
});
