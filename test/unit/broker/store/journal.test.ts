import t from 'tap';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openJournal } from '../../../../broker/store/journal.js';

t.test('records survive a reopen, last write wins, deletes stick', async (t) => {
  const path = join(t.testdir(), 'store.jsonl');
  const j = openJournal(path);
  j.put('clusters', 'a', { state: 'pending' });
  j.put('clusters', 'a', { state: 'running' });
  j.put('clusters', 'b', { state: 'running' });
  j.del('clusters', 'b');
  j.close();
  const k = openJournal(path);
  t.same(k.get('clusters', 'a'), { state: 'running' });
  t.equal(k.get('clusters', 'b'), undefined);
  t.same(k.all('clusters'), [{ state: 'running' }]);
  k.close();
});

t.test('a torn last line (crash mid-write) is dropped; earlier records are kept', async (t) => {
  const path = join(t.testdir(), 'store.jsonl');
  const j = openJournal(path);
  j.put('clusters', 'a', { n: 1 });
  j.close();
  appendFileSync(path, '{"op":"put","table":"clusters","key":"b","val');
  const k = openJournal(path);
  t.same(k.all('clusters'), [{ n: 1 }]);
  k.put('clusters', 'c', { n: 3 });
  k.close();
  t.same(openJournal(path).all('clusters'), [{ n: 1 }, { n: 3 }], 'appends after recovery land on a clean line');
});

t.test('damage before the last line is reported, not skipped', async (t) => {
  const path = join(t.testdir(), 'store.jsonl');
  writeFileSync(path, 'garbage\n{"op":"put","table":"t","key":"a","value":1}\n');
  t.throws(() => openJournal(path), { code: 'BRK_STORE_CORRUPT', message: /damaged at line 1/ });
});

t.test('the journal compacts once it is mostly overwritten history', async (t) => {
  const path = join(t.testdir(), 'store.jsonl');
  const j = openJournal(path, { compactMinLines: 50 });
  for (let i = 0; i < 500; i++) j.put('t', 'k', { i });
  j.close();
  const lines = readFileSync(path, 'utf8').trim().split('\n').length;
  t.ok(lines < 60, `${lines} lines on disk for 1 live record`);
  t.same(openJournal(path).get('t', 'k'), { i: 499 });
});
