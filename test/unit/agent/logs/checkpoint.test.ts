import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../../../agent/logs/checkpoint.js';

void t.test('a checkpoint survives reopening and the newest write wins', (t) => {
  const dir = t.testdir();
  const a = openCheckpoint(dir);
  t.equal(a.position, undefined, 'none at first');
  a.write({ seq: 1, offset: 100 }, true);
  a.write({ seq: 1, offset: 200 }, false);
  a.write({ seq: 2, offset: 7 }, true);
  a.close();
  const b = openCheckpoint(dir);
  t.same(b.position, { seq: 2, offset: 7 });
  b.close();
  t.end();
});

void t.test('a torn write of the newest slot falls back to the previous checkpoint, never past it', (t) => {
  const dir = t.testdir();
  const a = openCheckpoint(dir);
  a.write({ seq: 3, offset: 10 }, true);
  a.write({ seq: 3, offset: 20 }, true);
  a.close();
  const path = join(dir, 'checkpoint.bin');
  const bytes = readFileSync(path);
  // The second write went to slot 0 (counter 2); tear it.
  bytes.fill(0xab, 20, 32);
  writeFileSync(path, bytes);
  const b = openCheckpoint(dir);
  t.same(b.position, { seq: 3, offset: 10 });
  b.write({ seq: 3, offset: 30 }, true);
  b.close();
  const c = openCheckpoint(dir);
  t.same(c.position, { seq: 3, offset: 30 }, 'writing resumes after the surviving slot');
  c.close();
  t.end();
});

void t.test('a garbage checkpoint file means no checkpoint (ship from the oldest segment)', (t) => {
  const dir = t.testdir({ 'checkpoint.bin': 'not a checkpoint at all, just text....................' });
  const a = openCheckpoint(dir);
  t.equal(a.position, undefined);
  a.close();
  t.end();
});
