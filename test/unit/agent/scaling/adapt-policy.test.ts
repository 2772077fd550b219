import t from 'tap';
import { adaptWorkers } from '../../../../agent/scaling/adapt-policy.js';

const bounds = { minimum: 1, maximum: 4 };
const base = { bounds, sinceChangeMs: 60_000, coolDownMs: 30_000 };

t.test('scales up to Dask\'s target at once, never above the maximum', async (t) => {
  t.equal(adaptWorkers({ ...base, target: 8, current: 1, sinceChangeMs: 0 }), 4);
  t.equal(adaptWorkers({ ...base, target: 3, current: 1, sinceChangeMs: 0 }), 3);
  t.equal(adaptWorkers({ ...base, target: 2.2, current: 1 }), 3, 'a fractional target is rounded up');
});

t.test('scales down by at most a quarter of the workers (at least one) per step, after the cool-down', async (t) => {
  t.equal(adaptWorkers({ ...base, target: 0, current: 4, sinceChangeMs: 10_000 }), 4, 'within the cool-down: no change');
  t.equal(adaptWorkers({ ...base, target: 0, current: 4 }), 3, '4 → 3, not straight to the minimum');
  t.equal(adaptWorkers({ ...base, target: 0, current: 2 }), 1);
  t.equal(adaptWorkers({ ...base, bounds: { minimum: 0, maximum: 100 }, target: 0, current: 40 }), 30, 'a quarter of 40');
  t.equal(adaptWorkers({ ...base, bounds: { minimum: 0, maximum: 100 }, target: 35, current: 40 }), 35, 'no further than the target');
});

t.test('keeps within the bounds', async (t) => {
  t.equal(adaptWorkers({ ...base, target: 0, current: 1 }), 1, 'never below the minimum');
  t.equal(adaptWorkers({ ...base, target: 0, current: 6, sinceChangeMs: 0 }), 4, 'above a new maximum: back inside at once');
  t.equal(adaptWorkers({ ...base, target: Number.NaN, current: 2 }), 2, 'no usable target: no change');
});
