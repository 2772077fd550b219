import t from 'tap';
import { loadAgentTuning } from '../../../agent/config.js';

t.test('tuning defaults suit a local machine, and the result is frozen', async (t) => {
  const tuning = loadAgentTuning({});
  t.same(tuning, {
    backend: 'local', initialBackoffMs: 500, maxCrashes: 5, telemetryIntervalMs: 5000, enrolDeadlineMs: 600_000,
    scalePollMs: 1000, adaptIntervalMs: 5000, adaptCoolDownMs: 30_000, spotPollMs: 5000, imdsUrl: 'http://169.254.169.254',
  });
  t.ok(Object.isFrozen(tuning));
});

t.test('on aws the boot log defaults to the boot script\'s own log', async (t) => {
  t.match(loadAgentTuning({ SKIFF_BACKEND: 'aws' }), { backend: 'aws', bootLog: '/var/log/skiff-bootstrap.log' });
  t.match(loadAgentTuning({ SKIFF_BACKEND: 'aws', SKIFF_BOOT_LOG: '/tmp/boot.log' }), { bootLog: '/tmp/boot.log' });
  t.match(loadAgentTuning({ SKIFF_BACKEND: 'aws', SKIFF_IMDS_URL: 'http://127.0.0.1:8080/' }), { imdsUrl: 'http://127.0.0.1:8080' }, 'a stand-in for tests');
});

t.test('reads the variables tests use to shorten timers', async (t) => {
  t.match(loadAgentTuning({ SKIFF_AGENT_BACKOFF_MS: '50', SKIFF_AGENT_MAX_CRASHES: '2', SKIFF_TELEMETRY_INTERVAL_MS: '1000', SKIFF_ENROL_DEADLINE_MS: '2500' }), {
    initialBackoffMs: 50, maxCrashes: 2, telemetryIntervalMs: 1000, enrolDeadlineMs: 2500,
  });
});

t.test('a bad value is an AGT_CONFIG error naming the variable, the value and the range', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ SKIFF_AGENT_BACKOFF_MS: 'soon' }, /^SKIFF_AGENT_BACKOFF_MS="soon" must be a whole number from 1 to 600000; unset it for the default 500$/],
    [{ SKIFF_AGENT_MAX_CRASHES: '-1' }, /^SKIFF_AGENT_MAX_CRASHES="-1" must be a whole number from 0 to 1000/],
    [{ SKIFF_TELEMETRY_INTERVAL_MS: '2.5' }, /^SKIFF_TELEMETRY_INTERVAL_MS="2.5" must be a whole number/],
    [{ SKIFF_ENROL_DEADLINE_MS: '1e9' }, /^SKIFF_ENROL_DEADLINE_MS="1e9" must be a whole number/],
    [{ SKIFF_BACKEND: 'gcp' }, /^SKIFF_BACKEND="gcp" must be local or aws$/],
    [{ SKIFF_BOOT_LOG: 'boot.log' }, /^SKIFF_BOOT_LOG="boot.log" must be an absolute path$/],
    [{ SKIFF_IMDS_URL: 'https://169.254.169.254/latest' }, /^SKIFF_IMDS_URL="https:\/\/169.254.169.254\/latest" must be http:\/\/HOST\[:PORT\]/],
  ];
  for (const [env, message] of cases) t.throws(() => loadAgentTuning(env), { code: 'AGT_CONFIG', message }, JSON.stringify(env));
});
