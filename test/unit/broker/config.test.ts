import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWorkspaceConfig } from '../../../broker/config.js';

t.test('no config file means no workspace settings', async (t) => {
  t.same(loadWorkspaceConfig(join(t.testdir(), 'config.json')), {});
});

t.test('watchdog thresholds and a webhook are read as users write them', async (t) => {
  const path = join(t.testdir(), 'config.json');
  writeFileSync(path, JSON.stringify({ watchdog: { idleTimeout: '30m', noClientTimeout: '5m', gpuAlertThreshold: 15, gpuAlertWindow: '1h' }, webhookUrl: 'https://hooks.example/x' }));
  t.same(loadWorkspaceConfig(path), {
    watchdog: { idleTimeoutMs: 1_800_000, noClientTimeoutMs: 300_000, gpuAlertThresholdPct: 15, gpuAlertWindowMs: 3_600_000 },
    webhookUrl: 'https://hooks.example/x',
  });
});

t.test('a bad config is refused with the file and the field named', async (t) => {
  const dir = t.testdir();
  const cases: Array<[string, RegExp]> = [
    ['{', /config\.json: not valid JSON/],
    ['[]', /must hold a JSON object/],
    ['{"watchdog":{"idleTimeout":"soon"}}', /watchdog\.idleTimeout must be a duration like "20m", got "soon"/],
    ['{"watchdog":{"idleTimeout":1200}}', /watchdog\.idleTimeout must be a duration/],
    ['{"watchdog":{"gpuAlertThreshold":150}}', /GPU alert threshold must be from 0 to 100 percent, got 150/],
    ['{"watchdog":{"naptime":"5m"}}', /unknown watchdog setting "naptime"/],
    ['{"webhookUrl":"ftp://x"}', /webhookUrl must be an http\(s\) URL/],
    ['{"colour":"blue"}', /unknown setting "colour"; valid: watchdog, webhookUrl/],
  ];
  for (const [text, message] of cases) {
    const path = join(dir, 'config.json');
    writeFileSync(path, text);
    t.throws(() => loadWorkspaceConfig(path), { code: 'BRK_CONFIG', message }, text);
  }
});
