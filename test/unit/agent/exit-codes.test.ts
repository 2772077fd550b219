// The agent process never ends with 0 on a failure: under systemd's Restart=always a 0 would look like a
// clean stop of a machine that in fact never came up.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UnsecuredJWT } from 'jose';
import { startAgent } from './fixtures/agent-process.js';
import { startBrokerStandin } from './fixtures/broker-standin.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const spawnNode = (script: string) => spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: 'ignore' });

function machineDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-agent-exit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function configFile(t: Test, brokerUrl: string): string {
  const dir = machineDir(t);
  const path = join(dir, 'agent.json');
  writeFileSync(path, JSON.stringify({ brokerUrl, enrolToken: 'enrol-token', clusterId: 'c-test', machineId: 'm-1', role: 'worker', machineDir: join(dir, 'm'), python: '/bin/false', listenHost: '127.0.0.1' }));
  return path;
}

t.test('a broker that answers 503 for ever: the agent retries until its deadline, then exits 1 saying why', async (t) => {
  const broker = await startBrokerStandin(t, { then: 503 });
  const agent = startAgent(t, ['--config', configFile(t, broker.url)], { SKIFF_ENROL_DEADLINE_MS: '2500' });
  const { code } = await agent.exited;
  t.equal(code, 1, 'non-zero, never 0');
  t.ok(broker.enrolAttempts() >= 3, `kept retrying (${broker.enrolAttempts()} attempts)`);
  t.match(agent.output(), /could not enrol with the broker http:\/\/127\.0\.0\.1:\d+ within 3 s \(\d+ attempts\); last error: stand-in answers 503/);
});

t.test('a broker that answers 503 twice, then enrols: the agent carries on past enrolment', async (t) => {
  const broker = await startBrokerStandin(t, { statuses: [503, 503], logsDir: machineDir(t) });
  const agent = startAgent(t, ['--config', configFile(t, broker.url)], { SKIFF_AGENT_MAX_CRASHES: '0' });
  await agent.waitFor(/"msg":"enrolled"/);
  t.equal(broker.enrolAttempts(), 3);
  agent.child.kill('SIGTERM');
  t.equal((await agent.exited).code, 0, 'a requested stop is the one clean exit');
});

t.test('on a VM, a refused enrolment is reported to the boot-failure endpoint and the agent exits 1', async (t) => {
  const broker = await startBrokerStandin(t, { statuses: [401] });
  const token = new UnsecuredJWT({ cluster: 'c-test', role: 'worker' }).encode();
  const agent = startAgent(t, [], {
    SKIFF_BACKEND: 'aws', SKIFF_BROKER_URL: broker.url, SKIFF_ENROL_TOKEN: token, SKIFF_MACHINE_ID: 'i-0123456789abcdef0',
    SKIFF_AGENT_DIR: machineDir(t), SKIFF_BOOT_LOG: '/nonexistent/boot.log', SKIFF_IMDS_URL: broker.url,
  });
  t.equal((await agent.exited).code, 1);
  const report = broker.seen.find((s) => s.url === '/v1/boot/failed');
  t.ok(report, 'reported');
  t.equal(report?.headers['authorization'], `Bearer ${token}`);
  t.equal(report?.headers['x-skiff-step'], 'enrol');
  t.equal(report?.headers['x-skiff-machine-id'], 'i-0123456789abcdef0');
  t.match(report?.body, /refused enrolment: stand-in answers 401/);
  t.match(Buffer.from(String(report?.headers['x-skiff-identity-document']), 'base64').toString('utf8'), /"instanceId":"i-0123456789abcdef0"/, 'with the identity document IMDS served');
  t.equal(report?.headers['x-skiff-identity-signature'], 'c3RhbmQtaW4gc2lnbmF0dXJl', 'and its signature');
  const enrolment = broker.seen.find((s) => s.url === '/v1/enrol');
  t.match(JSON.parse(enrolment?.body ?? '{}'), { identity: { document: /"instanceId":"i-0123456789abcdef0"/, signature: 'c3RhbmQtaW4gc2lnbmF0dXJl' } }, 'the enrolment carried the identity document IMDS served');
});

t.test('a bad tuning value is a configuration error (exit 2) naming the variable', async (t) => {
  const agent = startAgent(t, ['--config', configFile(t, 'http://127.0.0.1:9')], { SKIFF_AGENT_MAX_CRASHES: 'lots' });
  t.equal((await agent.exited).code, 2);
  const fatal = agent.output().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['level'] === 60);
  t.match(fatal, { msg: 'bad configuration', code: 'AGT_CONFIG', err: /^SKIFF_AGENT_MAX_CRASHES="lots" must be a whole number/ });
});

t.test('enrolment\'s retry wait alone keeps the process alive: it does not slip out with 0 between attempts', async (t) => {
  const broker = await startBrokerStandin(t, { then: 503 });
  const dir = machineDir(t);
  const script = join(dir, 'enrol-only.mts');
  const enrolModule = new URL('../../../agent/enrol/enrol.ts', import.meta.url).href;
  writeFileSync(script, [
    `import { enrol } from ${JSON.stringify(enrolModule)};`,
    `const config = { brokerUrl: ${JSON.stringify(broker.url)}, enrolToken: 't', clusterId: 'c', machineId: 'm', role: 'worker', machineDir: ${JSON.stringify(join(dir, 'm'))}, python: 'py', listenHost: '127.0.0.1' };`,
    `const log = { info() {}, warn() {}, error() {}, fatal() {}, child() { return log; } };`,
    `enrol(config, { log, deadlineMs: 2000 }).then(() => process.exit(4), () => process.exit(3));`,
  ].join('\n'));
  const started = Date.now();
  const child = spawnNode(script);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  t.equal(code, 3, 'ended by the deadline error, not by an emptied event loop');
  t.ok(Date.now() - started >= 2000, 'after the deadline');
});
