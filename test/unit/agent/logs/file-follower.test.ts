import t from 'tap';
import { appendFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileFollower } from '../../../../agent/logs/file-follower.js';
import type { LogLine } from '../../../../agent/logs/types.js';
import { fakeLog } from './fixtures/fake-log.js';

const follow = (path: string, lines: string[], statePath?: string) =>
  createFileFollower({
    path,
    source: 'boot',
    log: fakeLog(),
    pollMs: 60_000, // the test drives poll() itself
    onLine: (l: LogLine) => lines.push(l.text.toString()),
    ...(statePath !== undefined && { statePath }),
  });

void t.test('follows appends, then a rotated file, then a truncated one, without losing or repeating lines', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'boot.log');
  const lines: string[] = [];
  const f = follow(path, lines);
  t.teardown(() => f.stop());
  await f.poll();
  t.same(lines, [], 'a file that does not exist yet is waited for');

  writeFileSync(path, 'one\ntwo\n');
  await f.poll();
  appendFileSync(path, 'three\n');
  await f.poll();
  t.same(lines, ['one', 'two', 'three']);

  appendFileSync(path, 'four\n');
  renameSync(path, `${path}.1`);
  writeFileSync(path, 'five\n');
  await f.poll();
  t.same(lines.slice(3), ['four', 'five'], 'the end of the rotated file, then the new file');

  truncateSync(path, 0);
  appendFileSync(path, 'six\n');
  await f.poll();
  t.same(lines.slice(5), ['six'], 'after truncation it reads from the start');
});

void t.test('with a state file a restarted follower resumes where it stopped', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'boot.log');
  const state = join(dir, 'boot.state');
  writeFileSync(path, 'a\nb\n');
  const first: string[] = [];
  const f1 = follow(path, first, state);
  await f1.poll();
  await f1.stop();
  appendFileSync(path, 'c\n');
  const second: string[] = [];
  const f2 = follow(path, second, state);
  t.teardown(() => f2.stop());
  await f2.poll();
  t.same(first, ['a', 'b']);
  t.same(second, ['c']);
});
