import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { reapStale } from '../../../../agent/supervisor/pid-file.js';

const log = pino({ level: 'silent' });

function pidFile(t: Test, pid: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-pid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dask.pid');
  writeFileSync(path, `${pid}\n`);
  return path;
}

t.test('a recorded pid now used by another program is left alone', async (t) => {
  const signals: string[] = [];
  const path = pidFile(t, 4242);
  await reapStale({ pidFile: path, marker: '/m/tls/cert.pem', log, kill: (_p, s) => void signals.push(String(s)), cmdline: () => '/usr/sbin/sshd -D' });
  t.same(signals, []);
  t.notOk(existsSync(path), 'the stale file is gone');
});

t.test('the Dask process a previous run left is asked to stop, then killed when it does not', async (t) => {
  const signals: string[] = [];
  let alive = true;
  const path = pidFile(t, 4242);
  await reapStale({
    pidFile: path, marker: '/m/tls/cert.pem', log, graceMs: 100,
    kill: (_p, s) => {
      signals.push(String(s));
      if (s === 'SIGKILL') alive = false;
    },
    cmdline: () => (alive ? 'python3 -m dask worker --tls-cert /m/tls/cert.pem' : undefined),
  });
  t.same(signals, ['SIGTERM', 'SIGKILL']);
  t.notOk(existsSync(path));
});
