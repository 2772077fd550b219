// The Store contract: one set of tests that every store passes, run against the journal (test/unit/broker/store/
// journal-store.test.ts) and against DynamoDB in moto (test/integration/dynamo-store.test.ts). A store under test
// is given as a way to open it again on the same backing (a reopen is a broker restart) and, when the backing
// allows it, a second one open at the same time (another broker).
import type { Test } from 'tap';
import { isSkiffError } from '../../broker/api/errors.js';
import { updateCluster, type ClusterRecord, type Store } from '../../broker/store/store.js';

export interface StoreUnderTest {
  /** Opens the store on the backing of this test (a fresh backing per test). */
  open(): Promise<Store>;
  /** True when two stores may be open on one backing at once (DynamoDB: two brokers); the journal takes one. */
  concurrentOpen: boolean;
}

export function record(id: string, o: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    id, name: `n-${id}`, workspace: 'default', backend: 'local', state: 'pending', workers: 2, workersReady: 0, schedulerReady: false,
    createdAt: '2026-12-01T10:00:00.000Z', updatedAt: '2026-12-01T10:00:00.000Z', ...o,
  };
}

const code = (err: unknown): string => (isSkiffError(err) ? err.code : String(err));

export function storeContract(t: Test, makeStore: (t: Test) => Promise<StoreUnderTest>): void {
  /** A store for one test, closed in its teardown (the one opened last; a test reopening closes the others itself). */
  const opened = async (t: Test) => {
    const sut = await makeStore(t);
    const open = async () => {
      const s = await sut.open();
      t.teardown(() => s.close().catch(() => undefined));
      return s;
    };
    return { sut, open };
  };

  t.test('clusters are found by id and by name (the newest of a name), listed oldest first', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    await s.putCluster(record('c2', { name: 'web', createdAt: '2026-12-01T11:00:00.000Z' }));
    await s.putCluster(record('c1', { name: 'web', createdAt: '2026-12-01T10:00:00.000Z', state: 'stopped' }));
    await s.putCluster(record('c3', { name: 'etl', createdAt: '2026-12-01T12:00:00.000Z' }));
    t.same((await s.clusters()).map((c) => c.id), ['c1', 'c2', 'c3'], 'oldest first');
    t.equal((await s.cluster('c3'))?.name, 'etl');
    t.equal(await s.cluster('nope'), undefined, 'an unknown id is undefined');
    t.equal((await s.findCluster('web'))?.id, 'c2', 'a name finds its newest cluster');
    t.equal((await s.findCluster('c1'))?.id, 'c1', 'an id finds its cluster');
    t.equal(await s.findCluster('gone'), undefined);
  });

  t.test('a record comes back as it was written, nested fields and all, with its version', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    const c = record('c1', {
      plan: { backend: 'local', clusterId: 'c1', workspace: 'default', detail: { a: [1, 2] }, scheduler: { privateHost: '10.0.0.1', publicHost: '1.2.3.4', daskPort: 8786, gatewayPort: 443, httpPort: 8787, telemetryPort: 9000 }, machines: [{ id: 'm1', role: 'scheduler', name: 'scheduler' }] },
      warnings: ['x "quoted" ünïcode'], webhookUrl: 'https://hooks.example/1', retire: { id: 'r1', names: ['worker-1'], at: '2026-12-01T10:00:00.000Z' },
    });
    const stored = await s.putCluster(c);
    t.equal(stored.version, 1, 'the first write is version 1');
    t.same(await s.cluster('c1'), { ...c, version: 1 });
  });

  t.test('every write raises the version; a write on a version no longer stored is refused and changes nothing', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    const v1 = await s.putCluster(record('c1'), { ifVersion: 0 });
    t.equal(v1.version, 1);
    const err0 = await s.putCluster(record('c1', { state: 'failed' }), { ifVersion: 0 }).catch(code);
    t.equal(err0, 'BRK_CONFLICT', 'ifVersion 0 (create) on an existing record is a conflict');
    const v2 = await s.putCluster({ ...v1, state: 'starting' }, { ifVersion: 1 });
    t.equal(v2.version, 2);
    const stale = await s.putCluster({ ...v1, state: 'failed' }, { ifVersion: 1 }).catch(code);
    t.equal(stale, 'BRK_CONFLICT', 'the loser of a race gets BRK_CONFLICT');
    t.match(await s.cluster('c1'), { state: 'starting', version: 2 }, 'the lost write left nothing');
    const v3 = await s.putCluster({ ...v1, state: 'running' });
    t.equal(v3.version, 3, 'an unconditional write lands and still counts');
  });

  t.test('concurrent read-change-write steps lose no update', async (t) => {
    const { sut, open } = await opened(t);
    const a = await open();
    const b = sut.concurrentOpen ? await open() : a;
    await a.putCluster(record('c1', { workersReady: 0 }));
    const bump = (s: Store) => updateCluster(s, 'c1', (c) => ({ ...c, workersReady: c.workersReady + 1 }), 50);
    await Promise.all(Array.from({ length: 12 }, (_, i) => bump(i % 2 === 0 ? a : b)));
    t.match(await a.cluster('c1'), { workersReady: 12, version: 13 }, 'twelve increments from two writers, twelve counted');
    t.equal(await updateCluster(a, 'nope', (c) => c), undefined, 'no such cluster: nothing written');
  });

  t.test('a machine enrols once: a second enrolment is refused, also when both race', async (t) => {
    const { sut, open } = await opened(t);
    const a = await open();
    const b = sut.concurrentOpen ? await open() : a;
    const e = { clusterId: 'c1', machineId: 'm1', role: 'worker' as const, name: 'worker-1', serialHex: '01', enrolledAt: '2026-12-01T10:00:00.000Z' };
    const outcomes = await Promise.all([a, b, a, b].map((s, i) => s.putEnrolment({ ...e, serialHex: `0${i}` }).then(() => 'ok', code)));
    t.same(outcomes.filter((o) => o === 'ok').length, 1, 'exactly one of four racing enrolments lands');
    t.same(outcomes.filter((o) => o !== 'ok'), ['BRK_ALREADY_ENROLLED', 'BRK_ALREADY_ENROLLED', 'BRK_ALREADY_ENROLLED']);
    await a.putEnrolment({ ...e, machineId: 'm2', name: 'worker-2' });
    await a.putEnrolment({ ...e, clusterId: 'c2' });
    t.same((await a.enrolments('c1')).map((x) => x.machineId).sort(), ['m1', 'm2'], 'listed per cluster');
    t.equal((await a.enrolment('c1', 'm2'))?.name, 'worker-2');
    t.equal(await a.enrolment('c1', 'm9'), undefined);
  });

  t.test('certificates are kept per cluster', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    const cert = { clusterId: 'c1', serialHex: 'aa', profile: 'node' as const, subject: 'scheduler', notAfter: '2026-12-08T10:00:00.000Z', issuedAt: '2026-12-01T10:00:00.000Z' };
    await s.putCertificate(cert);
    await s.putCertificate({ ...cert, serialHex: 'bb', profile: 'user', subject: 'user' });
    await s.putCertificate({ ...cert, clusterId: 'c2', serialHex: 'cc' });
    t.same((await s.certificates('c1')).map((c) => c.serialHex).sort(), ['aa', 'bb']);
    t.same(await s.certificates('c3'), []);
  });

  t.test('notifications from concurrent writers are numbered uniquely, listed once each in order, filtered by cluster and after a number', async (t) => {
    const { sut, open } = await opened(t);
    const a = await open();
    const b = sut.concurrentOpen ? await open() : a;
    const written = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0 ? a : b).notify({ at: '2026-12-01T10:00:00.000Z', clusterId: i % 4 === 0 ? 'c1' : 'c2', kind: 'alert', reason: `r${i}` })));
    const seqs = written.map((n) => n.seq);
    t.equal(new Set(seqs).size, 40, 'forty notifications, forty numbers');
    const all = await a.notifications();
    t.same(all.map((n) => n.reason).sort(), written.map((n) => n.reason).sort(), 'each appears once');
    t.same(all.map((n) => n.seq), [...seqs].sort((x, y) => x - y), 'in number order');
    t.same((await b.notifications('c1')).map((n) => n.seq), all.filter((n) => n.clusterId === 'c1').map((n) => n.seq), 'one cluster\'s');
    const mid = all[29]!.seq;
    t.same((await a.notifications(undefined, mid)).map((n) => n.seq), all.slice(30).map((n) => n.seq), 'only those after a number');
    t.same((await a.notifications('c2', mid)).map((n) => n.seq), all.slice(30).filter((n) => n.clusterId === 'c2').map((n) => n.seq));
  });

  t.test('access grants are put, listed by pattern, replaced and deleted', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    const g = { pattern: 'arn:aws:iam::123456789012:user/*', admin: false, grantedBy: 'arn:aws:iam::123456789012:user/ann', grantedAt: '2026-12-01T10:00:00.000Z' };
    await s.putAccessGrant(g);
    await s.putAccessGrant({ ...g, pattern: 'arn:aws:iam::123456789012:role/admins', admin: true });
    await s.putAccessGrant({ ...g, admin: true });
    t.same(await s.accessGrants(), [{ ...g, pattern: 'arn:aws:iam::123456789012:role/admins', admin: true }, { ...g, admin: true }], 'sorted, the second put replaced the first');
    t.equal(await s.deleteAccessGrant(g.pattern), true, 'a grant that was there');
    t.equal(await s.deleteAccessGrant(g.pattern), false, 'and no more');
    t.equal((await s.accessGrants()).length, 1);
  });

  t.test('sealed blobs are stored opaque, by id, and deleted', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    const blob = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256)).toString('base64');
    await s.putSealed('ca/c1', blob);
    await s.putSealed('token-key', 'AQICAHg');
    t.equal(await s.getSealed('ca/c1'), blob);
    t.equal(await s.getSealed('nope'), undefined);
    await s.deleteSealed('ca/c1');
    await s.deleteSealed('ca/c1');
    t.equal(await s.getSealed('ca/c1'), undefined, 'deleted (twice is fine)');
    t.equal(await s.getSealed('token-key'), 'AQICAHg');
  });

  t.test('the watchdog\'s inputs are kept per cluster and deleted', async (t) => {
    const { open } = await opened(t);
    const s = await open();
    const w = { clusterId: 'c1', heartbeatAt: '2026-12-01T10:05:00.000Z', activeAt: '2026-12-01T10:01:00.000Z', busy: false, clients: 0, noClientSince: '2026-12-01T10:00:00.000Z' };
    await s.putWatch(w);
    await s.putWatch({ ...w, clusterId: 'c2', busy: true, clients: 1 });
    await s.putWatch({ ...w, heartbeatAt: '2026-12-01T10:06:00.000Z' });
    t.same((await s.watches()).sort((x, y) => x.clusterId.localeCompare(y.clusterId)), [{ ...w, heartbeatAt: '2026-12-01T10:06:00.000Z' }, { ...w, clusterId: 'c2', busy: true, clients: 1 }]);
    await s.deleteWatch('c1');
    t.same((await s.watches()).map((x) => x.clusterId), ['c2']);
  });

  t.test('a lease is held by one holder until it expires or is given up; its holder renews it', async (t) => {
    const { sut, open } = await opened(t);
    const a = await open();
    const b = sut.concurrentOpen ? await open() : a;
    const T = 1_800_000_000_000;
    t.same(await a.takeLease('leader', 'A', 15_000, T), { name: 'leader', holder: 'A', expiresAtMs: T + 15_000 }, 'free: taken');
    t.same(await b.takeLease('leader', 'B', 15_000, T + 5000), { name: 'leader', holder: 'A', expiresAtMs: T + 15_000 }, 'held: B is told who holds it');
    t.equal((await a.takeLease('leader', 'A', 15_000, T + 5000)).expiresAtMs, T + 20_000, 'the holder renews');
    t.equal((await b.takeLease('leader', 'B', 15_000, T + 19_999)).holder, 'A', 'not before it expires');
    t.same(await b.takeLease('leader', 'B', 15_000, T + 20_000), { name: 'leader', holder: 'B', expiresAtMs: T + 35_000 }, 'expired: B takes it');
    t.equal((await a.takeLease('leader', 'A', 15_000, T + 21_000)).holder, 'B', 'A no longer has it');
    await a.releaseLease('leader', 'A');
    t.equal((await a.takeLease('leader', 'A', 15_000, T + 22_000)).holder, 'B', 'only the holder gives it up');
    await b.releaseLease('leader', 'B');
    t.equal((await a.takeLease('leader', 'A', 15_000, T + 22_000)).holder, 'A', 'given up: taken at once');
    const race = await Promise.all([a.takeLease('other', 'A', 15_000, T), b.takeLease('other', 'B', 15_000, T)]);
    t.equal(new Set(race.map((l) => l.holder)).size, 1, 'two racing takers agree on one holder');
  });

  t.test('a reopened store (a restarted broker) has everything, and numbers and versions go on', async (t) => {
    const { sut } = await opened(t);
    const s = await sut.open();
    await s.putCluster(record('c1'));
    await s.putCluster({ ...record('c1'), state: 'starting' });
    await s.putEnrolment({ clusterId: 'c1', machineId: 'm1', role: 'scheduler', name: 'scheduler', serialHex: '01', enrolledAt: '2026-12-01T10:00:00.000Z' });
    await s.putCertificate({ clusterId: 'c1', serialHex: '01', profile: 'node', subject: 'scheduler', notAfter: '2026-12-08T10:00:00.000Z', issuedAt: '2026-12-01T10:00:00.000Z' });
    const n1 = await s.notify({ at: '2026-12-01T10:00:00.000Z', clusterId: 'c1', kind: 'state', state: 'pending' });
    await s.putAccessGrant({ pattern: 'arn:aws:iam::1:user/a', admin: true, grantedBy: 'setup', grantedAt: '2026-12-01T10:00:00.000Z' });
    await s.putSealed('k', 'v');
    await s.putWatch({ clusterId: 'c1', heartbeatAt: '2026-12-01T10:00:00.000Z', activeAt: '2026-12-01T10:00:00.000Z', busy: false, clients: 0 });
    await s.takeLease('leader', 'A', 15_000, 1000);
    await s.close();

    const r = await sut.open();
    t.teardown(() => r.close().catch(() => undefined));
    t.match(await r.cluster('c1'), { state: 'starting', version: 2 });
    t.equal((await r.enrolments('c1')).length, 1);
    t.equal(await r.putEnrolment({ clusterId: 'c1', machineId: 'm1', role: 'scheduler', name: 'scheduler', serialHex: '02', enrolledAt: '2026-12-01T10:00:00.000Z' }).catch(code), 'BRK_ALREADY_ENROLLED', 'still enrolled after the restart');
    t.equal((await r.certificates('c1')).length, 1);
    t.same((await r.notifications()).map((n) => n.seq), [n1.seq]);
    const n2 = await r.notify({ at: '2026-12-01T10:01:00.000Z', clusterId: 'c1', kind: 'state', state: 'starting' });
    t.ok(n2.seq > n1.seq, 'the next number is above every earlier one');
    t.equal((await r.putCluster({ ...record('c1'), state: 'running' })).version, 3, 'versions go on');
    t.equal((await r.accessGrants()).length, 1);
    t.equal(await r.getSealed('k'), 'v');
    t.equal((await r.watches()).length, 1);
    t.equal((await r.takeLease('leader', 'B', 15_000, 2000)).holder, 'A', 'the lease too');
  });
}
