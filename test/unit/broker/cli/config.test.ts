// The CLI's settings come from the environment once, checked and frozen.
import t from 'tap';
import { loadCliConfig } from '../../../../broker/cli/config.js';

t.test('reads every setting once, with defaults, and freezes them', async (t) => {
  const c = loadCliConfig({ SKIFF_HOME: '/srv/skiff', SKIFF_BROKER_URL: 'https://broker.example:8443', SKIFF_API_KEY: 'k', SKIFF_WATCHDOG_INTERVAL_MS: '250', AWS_REGION: 'eu-west-1', SKIFF_PYTHON: '' });
  t.match(c, { home: '/srv/skiff', brokerUrl: 'https://broker.example:8443', apiKey: 'k', watchdogIntervalMs: 250, awsRegion: 'eu-west-1', python: '/usr/bin/python3', logLevel: 'warn' });
  t.ok(Object.isFrozen(c));
  t.notOk('webhookUrl' in c, 'unset means absent');
});

t.test('a bad value is a usage error that names the variable', async (t) => {
  t.throws(() => loadCliConfig({ SKIFF_WATCHDOG_INTERVAL_MS: 'fast' }), { code: 'CLI_USAGE', message: /SKIFF_WATCHDOG_INTERVAL_MS "fast" must be a whole number/ });
  t.throws(() => loadCliConfig({ SKIFF_WATCHDOG_INTERVAL_MS: '0' }), { code: 'CLI_USAGE' });
  t.throws(() => loadCliConfig({ SKIFF_LOG_LEVEL: 'loud' }), { code: 'CLI_USAGE', message: /SKIFF_LOG_LEVEL "loud" is not a level/ });
});
