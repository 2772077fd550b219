// The one owner check: what each principal may resolve, list and read, and that a cluster they may not
// see is answered exactly as one that does not exist.
import t from 'tap';
import { createClusterAccess } from '../../../../broker/auth/cluster-access.js';
import type { ClusterView, NotificationView } from '../../../../broker/api/wire.js';
import type { Principal } from '../../../../broker/api/auth.js';

const A = 'arn:aws:iam::123456789012:user/alice';
const B = 'arn:aws:iam::123456789012:user/bob';
const view = (id: string, name: string, owner: string | undefined, createdAt: string): ClusterView => ({
  id, name, backend: 'local', state: 'running', workers: 1, workersReady: 1, createdAt, updatedAt: createdAt, ...(owner ? { owner } : {}),
});
const clusters = [
  view('c0000000001', 'work', A, '2026-01-01T00:00:00Z'),
  view('c0000000002', 'work', B, '2026-01-02T00:00:00Z'),
  view('c0000000003', 'old', undefined, '2025-01-01T00:00:00Z'),
];
const notes: NotificationView[] = clusters.map((c, i) => ({ seq: i + 1, at: c.createdAt, clusterId: c.id, clusterName: c.name, kind: 'state', state: 'running' }));
const access = createClusterAccess({
  list: async () => clusters,
  notifications: async (ref, after = 0) => notes.filter((n) => (ref === undefined || n.clusterId === ref) && n.seq > after),
});
const alice: Principal = { id: A, person: 'alice', admin: false };
const bob: Principal = { id: B, person: 'bob', admin: false };
const admin: Principal = { id: 'arn:aws:iam::123456789012:user/boss', person: 'boss', admin: true };
const local: Principal = { id: 'local', person: 'local', admin: true };

const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { code: string; message: string });

t.test('names are each owner\'s: the same name resolves to each one\'s own cluster', async (t) => {
  t.equal(await access.resolve(alice, 'work'), 'c0000000001');
  t.equal(await access.resolve(bob, 'work'), 'c0000000002');
  t.equal(await access.resolve(admin, 'work'), 'c0000000002', 'an admin gets the newest of that name');
  t.equal(await access.resolve(admin, 'c0000000001'), 'c0000000001', 'and any by id');
});

t.test('another\'s cluster is not found, in the words used for one that does not exist', async (t) => {
  const theirs = await errorOf(access.resolve(bob, 'c0000000001'));
  const none = await errorOf(access.resolve(bob, 'c9999999999'));
  t.equal(theirs?.code, 'BRK_NOT_FOUND');
  t.equal(theirs?.message, none?.message.replace('c9999999999', 'c0000000001'), 'the same message');
  t.equal((await errorOf(access.resolve(alice, 'old')))?.code, 'BRK_NOT_FOUND', 'an ownerless (older) record is local\'s');
  t.equal(await access.resolve(local, 'old'), 'c0000000003', 'the API-key broker\'s principal owns the older records');
});

t.test('list shows one\'s own; --all is for admins', async (t) => {
  t.same((await access.list(alice, false)).map((c) => c.id), ['c0000000001']);
  t.same((await access.list(admin, false)).map((c) => c.id), [], 'an admin\'s own: none');
  t.same((await access.list(admin, true)).map((c) => c.id), ['c0000000001', 'c0000000002', 'c0000000003']);
  t.same((await access.list(local, false)).map((c) => c.id), ['c0000000003'], 'local: the records without owner');
  t.match(await errorOf(access.list(bob, true)), { code: 'BRK_FORBIDDEN', message: /only an admin of this broker lists every cluster/ });
});

t.test('notifications: of one\'s own clusters only', async (t) => {
  t.same((await access.notifications(bob, undefined, 0, false)).map((n) => n.clusterId), ['c0000000002']);
  t.same((await access.notifications(admin, undefined, 0, true)).map((n) => n.seq), [1, 2, 3]);
  t.equal((await errorOf(access.notifications(bob, 'c0000000001', 0, false)))?.code, 'BRK_NOT_FOUND');
  t.same((await access.notifications(alice, 'work', 0, false)).map((n) => n.clusterId), ['c0000000001']);
});
