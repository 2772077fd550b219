import t from 'tap';
import { join } from 'node:path';
import pino from 'pino';
import { createLeadership } from '../../../../broker/leader/leadership.js';
import { openStore, type Store } from '../../../../broker/store/store.js';

const log = pino({ level: 'silent' });

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

t.test('brokers on one store: exactly one leads; when it goes silent another leads once the lease has run out, not before', async (t) => {
  const store = openStore(join(t.testdir(), 'store.jsonl'));
  t.teardown(() => store.close());
  const c = clock();
  const changes: string[] = [];
  const mk = (name: string) => createLeadership({ store, log, ttlMs: 3000, holder: name, now: c.now, onChange: (l) => changes.push(`${name} ${l ? 'leads' : 'follows'}`) });
  const a = mk('a');
  const b = mk('b');
  await a.tick();
  await b.tick();
  t.same([a.isLeader(), b.isLeader()], [true, false], 'the first to ask leads');
  for (let i = 0; i < 5; i++) {
    c.advance(1000);
    await a.tick();
    await b.tick();
    t.same([a.isLeader(), b.isLeader()], [true, false], `renewed, still one leader (${i + 1} s)`);
  }
  // a is killed (stops renewing). b keeps asking: refused until a's lease has expired.
  c.advance(1000);
  t.ok(a.isLeader(), 'a, not yet aware, still counts itself leader one second after its last renewal');
  await b.tick();
  t.notOk(b.isLeader(), 'b does not lead while the lease is a\'s');
  c.advance(1000);
  t.notOk(a.isLeader(), 'a stops acting a full renewal interval before its lease ends');
  await b.tick();
  t.notOk(b.isLeader(), 'and b still waits');
  c.advance(1001);
  await b.tick();
  t.ok(b.isLeader(), 'b leads once the lease ran out');
  t.same(changes, ['a leads', 'a follows', 'b leads']);
  // a comes back: it follows.
  await a.tick();
  t.notOk(a.isLeader(), 'a back follows');
});

t.test('a clean stop gives the lease up, so the next broker leads at once', async (t) => {
  const store = openStore(join(t.testdir(), 'store.jsonl'));
  t.teardown(() => store.close());
  const c = clock();
  const a = createLeadership({ store, log, ttlMs: 60_000, holder: 'a', now: c.now });
  const b = createLeadership({ store, log, ttlMs: 60_000, holder: 'b', now: c.now });
  await a.tick();
  await b.tick();
  t.ok(a.isLeader());
  await a.stop();
  t.notOk(a.isLeader());
  await b.tick();
  t.ok(b.isLeader(), 'b leads without waiting a minute');
});

t.test('a leader that cannot reach the store stops leading before its lease could have passed to another', async (t) => {
  const real = openStore(join(t.testdir(), 'store.jsonl'));
  t.teardown(() => real.close());
  let down = false;
  const flaky: Pick<Store, 'takeLease' | 'releaseLease'> = {
    takeLease: (...args) => (down ? Promise.reject(new Error('store unreachable')) : real.takeLease(...args)),
    releaseLease: (...args) => real.releaseLease(...args),
  };
  const c = clock();
  const changes: boolean[] = [];
  const a = createLeadership({ store: flaky, log, ttlMs: 3000, holder: 'a', now: c.now, onChange: (l) => changes.push(l) });
  await a.tick();
  t.ok(a.isLeader());
  down = true;
  c.advance(1000);
  await a.tick();
  t.ok(a.isLeader(), 'one failed renewal: still within its lease');
  c.advance(1000);
  await a.tick();
  t.notOk(a.isLeader(), 'no renewal for a full lease less one interval: no longer leader');
  t.same(changes, [true, false], 'and it said so');
  down = false;
  await a.tick();
  t.ok(a.isLeader(), 'the store back, it leads again (the lease was still its own)');
});
