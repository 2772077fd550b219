// The start-deadline timers: one per cluster, replaced on re-arm, fired at once for a deadline already past.
import t from 'tap';
import { createStartDeadlines } from '../../../../broker/clusters/start-deadline.js';
import { fakeClock } from '../../../helpers/clock.js';

t.test('fires once at the deadline, not before', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const d = createStartDeadlines({ ...clock, onExpire: (id) => fired.push(id) });
  d.arm('c1', clock.now() + 60_000);
  clock.advance(59_999);
  t.same(fired, []);
  clock.advance(1);
  t.same(fired, ['c1']);
  clock.advance(600_000);
  t.same(fired, ['c1'], 'only once');
});

t.test('a disarmed cluster never fires; re-arming replaces the earlier deadline', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const d = createStartDeadlines({ ...clock, onExpire: (id) => fired.push(id) });
  d.arm('a', clock.now() + 1000);
  d.arm('b', clock.now() + 1000);
  d.disarm('a');
  d.arm('b', clock.now() + 5000);
  clock.advance(1000);
  t.same(fired, []);
  clock.advance(4000);
  t.same(fired, ['b']);
  t.equal(clock.pending(), 0);
});

t.test('a deadline that has already passed (a broker restarted late) fires at once', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const d = createStartDeadlines({ ...clock, onExpire: (id) => fired.push(id) });
  d.arm('late', clock.now() - 10_000);
  clock.advance(0);
  t.same(fired, ['late']);
});

t.test('close stops every timer', async (t) => {
  const clock = fakeClock();
  const fired: string[] = [];
  const d = createStartDeadlines({ ...clock, onExpire: (id) => fired.push(id) });
  d.arm('x', clock.now() + 10);
  d.arm('y', clock.now() + 20);
  d.close();
  clock.advance(100);
  t.same(fired, []);
  t.equal(clock.pending(), 0);
});
