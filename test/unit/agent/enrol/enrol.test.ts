import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { enrol } from '../../../../agent/enrol/enrol.js';
import { agentConfigFromEnv, type AgentConfig } from '../../../../agent/config.js';
import { startBrokerStandin } from '../fixtures/broker-standin.js';
import { fakeClock } from '../../../helpers/clock.js';

const log = pino({ level: 'silent' });

function configFor(t: Test, brokerUrl: string): AgentConfig {
  const machineDir = mkdtempSync(join(tmpdir(), 'skiff-enrol-'));
  t.teardown(() => rmSync(machineDir, { recursive: true, force: true }));
  return { brokerUrl, enrolToken: 'enrol-token', clusterId: 'c-test', machineId: 'i-0123456789abcdef0', role: 'worker', machineDir, python: 'py', listenHost: '127.0.0.1' };
}

t.test('enrols after the broker answered 503 twice, waiting a jittered, growing backoff between tries', async (t) => {
  const broker = await startBrokerStandin(t, { statuses: [503, 503] });
  const clock = fakeClock();
  const config = configFor(t, broker.url);
  const { response, files } = await enrol(config, { log, ...clock, random: () => 0.5 });
  t.equal(broker.enrolAttempts(), 3);
  t.equal(response.machineId, config.machineId);
  t.equal(clock.waits.length, 2);
  t.ok(clock.waits[1]! > clock.waits[0]!, `waits grow: ${clock.waits.join(', ')} ms`);
  for (const f of [files.key, files.cert, files.ca, join(config.machineDir, 'enrolment.json')]) t.ok(existsSync(f), `${f} saved`);
  t.match(readFileSync(files.key, 'utf8'), /BEGIN PRIVATE KEY/, 'the private key stays on this machine');
});

t.test('a broker that answers 503 for ever ends enrolment at the deadline with a clear error, not before', async (t) => {
  const broker = await startBrokerStandin(t, { then: 503 });
  const clock = fakeClock();
  const started = clock.now();
  await t.rejects(enrol(configFor(t, broker.url), { log, ...clock, deadlineMs: 60_000 }), {
    code: 'AGT_ENROL_FAILED',
    message: new RegExp(`could not enrol with the broker ${broker.url} within 60 s \\(\\d+ attempts\\); last error: stand-in answers 503`),
  });
  t.equal(clock.now() - started, 60_000, 'it kept trying until the deadline and waited no longer');
  t.ok(clock.waits.every((w) => w <= 10_000), 'no wait is longer than 10 s');
  t.ok(broker.enrolAttempts() >= 8, `${broker.enrolAttempts()} attempts`);
});

t.test('a refusal (401) is not retried', async (t) => {
  const broker = await startBrokerStandin(t, { statuses: [401] });
  await t.rejects(enrol(configFor(t, broker.url), { log, ...fakeClock() }), { code: 'AGT_ENROL_FAILED', message: /refused enrolment: stand-in answers 401/ });
  t.equal(broker.enrolAttempts(), 1);
});

t.test('a saved enrolment is reused: a restarted agent does not enrol again', async (t) => {
  const broker = await startBrokerStandin(t);
  const config = configFor(t, broker.url);
  const first = await enrol(config, { log });
  const again = await enrol(config, { log });
  t.equal(broker.enrolAttempts(), 1, 'one enrolment only');
  t.equal(again.response.certPem, first.response.certPem);
});

t.test('once enrolled, agent.env holds no enrol token (nor does the agent\'s environment), and a restart runs on the saved enrolment', async (t) => {
  const broker = await startBrokerStandin(t);
  const config = configFor(t, broker.url);
  const envFile = join(config.machineDir, 'agent.env');
  const token = 'eyJhbGciOiJFUzI1NiJ9.eyJjbHVzdGVyIjoiYy10ZXN0Iiwicm9sZSI6IndvcmtlciJ9.sig';
  writeFileSync(envFile, `SKIFF_BACKEND=aws\nSKIFF_BROKER_URL=${broker.url}\nSKIFF_ENROL_TOKEN=${token}\nSKIFF_MACHINE_ID=${config.machineId}\n`, { mode: 0o600 });
  process.env['SKIFF_ENROL_TOKEN'] = token;
  t.teardown(() => delete process.env['SKIFF_ENROL_TOKEN']);
  await enrol({ ...config, enrolToken: token }, { log, envFile });
  const after = readFileSync(envFile, 'utf8');
  t.notOk(after.includes(token), 'the token is gone from agent.env');
  t.equal(process.env['SKIFF_ENROL_TOKEN'], undefined, 'and from the agent\'s environment, which its children inherit');
  t.equal(statSync(envFile).mode & 0o777, 0o600);
  const restarted = agentConfigFromEnv(Object.fromEntries(after.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])));
  t.match(restarted, { clusterId: 'c-test', role: 'worker', enrolToken: '', machineId: config.machineId, brokerUrl: broker.url });
  await enrol({ ...restarted, machineDir: config.machineDir }, { log, envFile });
  t.equal(broker.enrolAttempts(), 1, 'the restart reused the saved enrolment');
  rmSync(join(config.machineDir, 'enrolment.json'));
  await t.rejects(enrol({ ...restarted, machineDir: config.machineDir }, { log }), { code: 'AGT_ENROL_FAILED', message: /enrolled before .* saved enrolment .* is gone; a machine enrols once/ });
  t.equal(broker.enrolAttempts(), 1, 'nothing is sent without a token');
});
