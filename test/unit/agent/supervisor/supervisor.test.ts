import t from 'tap';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { pino } from 'pino';
import { createSupervisor } from '../../../../agent/supervisor/supervisor.js';

// A child process stand-in (as concurrently's tests do): an EventEmitter with PassThrough streams.
class FakeChild extends EventEmitter {
  stdout = new PassThrough();
  stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  pid: number;
  killed: string[] = [];
  constructor(pid: number) {
    super();
    this.pid = pid;
  }
  kill(sig: NodeJS.Signals = 'SIGTERM'): boolean {
    this.killed.push(sig);
    if (sig === 'SIGKILL' || !this.ignoreTerm) this.exit(null, sig);
    return true;
  }
  ignoreTerm = false;
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout.end();
    this.stderr.end();
    setImmediate(() => this.emit('close', code, signal));
  }
}

function harness() {
  const children: FakeChild[] = [];
  const spawn = (() => {
    const c = new FakeChild(1000 + children.length);
    children.push(c);
    return c as unknown as ChildProcess;
  }) as unknown as typeof nodeSpawn;
  return { children, spawn };
}

const log = pino({ level: 'silent' });
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

t.test('restarts a crashed process with growing backoff and passes its lines on', async (t) => {
  const { children, spawn } = harness();
  const lines: string[] = [];
  const sup = createSupervisor({ name: 'dask', command: 'x', args: [], log, spawn, initialBackoffMs: 10, maxBackoffMs: 40, onLine: (_s, l) => lines.push(l) });
  sup.start();
  t.equal(children.length, 1);
  children[0]!.stdout.write('Scheduler at: tls://127.0.0.1:1\n');
  await tick();
  children[0]!.exit(1);
  await tick(30);
  t.equal(children.length, 2, 'restarted after the backoff');
  t.same(lines, ['Scheduler at: tls://127.0.0.1:1']);
  await sup.stop();
});

t.test('gives up after too many crashes in the window, reporting the last lines once', async (t) => {
  const { children, spawn } = harness();
  const reports: Array<[string, string[]]> = [];
  const sup = createSupervisor({
    name: 'dask-worker', command: 'x', args: [], log, spawn, initialBackoffMs: 1, maxBackoffMs: 2, maxCrashes: 3, crashWindowMs: 60_000,
    onGiveUp: (reason, last) => reports.push([reason, last]),
  });
  sup.start();
  for (let i = 0; i < 4; i++) {
    children[i]!.stderr.write(`ImportError ${i}\n`);
    await tick();
    children[i]!.exit(1);
    await tick(20);
  }
  t.equal(children.length, 4, 'no fifth start');
  t.equal(reports.length, 1);
  t.match(reports[0]![0], /dask-worker exited 4 times within 60 s \(last: code 1\)/);
  t.same(reports[0]![1], ['ImportError 0', 'ImportError 1', 'ImportError 2', 'ImportError 3']);
});

t.test('stop sends SIGTERM, then SIGKILL when the process ignores it, and never restarts', async (t) => {
  const { children, spawn } = harness();
  const sup = createSupervisor({ name: 'dask', command: 'x', args: [], log, spawn, stopGraceMs: 20, initialBackoffMs: 1 });
  sup.start();
  children[0]!.ignoreTerm = true;
  await sup.stop();
  t.same(children[0]!.killed, ['SIGTERM', 'SIGKILL']);
  await tick(20);
  t.equal(children.length, 1, 'not restarted after stop');
});

t.test('the reason names the first exception of the last run: the root cause of a chained traceback', async (t) => {
  const { children, spawn } = harness();
  const reports: string[] = [];
  const sup = createSupervisor({
    name: 'dask-scheduler', command: 'x', args: [], log, spawn, initialBackoffMs: 1, maxBackoffMs: 2, maxCrashes: 1, crashWindowMs: 60_000,
    onGiveUp: (reason) => reports.push(reason),
  });
  sup.start();
  children[0]!.stderr.write('ValueError: from the first run\n');
  await tick();
  children[0]!.exit(1);
  await tick(20);
  const traceback = [
    'Traceback (most recent call last):',
    '  File "/usr/lib/python3/dist-packages/distributed/core.py", line 528, in start',
    'OSError: [Errno 98] Address already in use',
    '',
    'The above exception was the direct cause of the following exception:',
    'RuntimeError: Scheduler failed to start.',
  ];
  children[1]!.stderr.write(traceback.join('\n') + '\n');
  await tick();
  children[1]!.exit(1);
  await tick(20);
  t.equal(reports.length, 1);
  t.equal(reports[0], 'dask-scheduler exited 2 times within 60 s (last: code 1, first error: OSError: [Errno 98] Address already in use)');
});
