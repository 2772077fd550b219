import t from 'tap';
import { buildSchedulerCommand, buildWorkerCommand } from '../../../../agent/supervisor/dask-command.js';

const scheduler = { privateHost: '10.0.1.5', publicHost: '3.3.3.3', daskPort: 8786, gatewayPort: 443, httpPort: 8787, telemetryPort: 8788 };
const tls = { ca: '/m/tls/ca.pem', cert: '/m/tls/cert.pem', key: '/m/tls/key.pem' };

t.test('the scheduler speaks only TLS, keeps its HTTP server on loopback and loads the worker admission', async (t) => {
  const c = buildSchedulerCommand({ python: '/usr/bin/python3', listenHost: '0.0.0.0', scheduler, tls, clusterId: 'c0123456789', admissionPlugin: '/m/skiff_worker_admission.py', httpGuard: { plugin: '/m/skiff_http_guard.py', token: 't'.repeat(43) } });
  t.equal(c.command, '/usr/bin/python3');
  t.same(c.args.slice(0, 3), ['-m', 'dask', 'scheduler']);
  const arg = (flag: string) => c.args[c.args.indexOf(flag) + 1];
  t.equal(arg('--protocol'), 'tls');
  t.equal(arg('--port'), '8786');
  t.equal(arg('--dashboard-address'), '127.0.0.1:8787');
  t.equal(arg('--tls-ca-file'), tls.ca);
  t.equal(c.env['DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION'], 'True');
  t.equal(arg('--preload'), '/m/skiff_worker_admission.py');
  t.equal(c.env['SKIFF_CLUSTER_ID'], 'c0123456789', 'the admission learns its cluster from the environment');
  const preloads = c.args.flatMap((a, i) => (c.args[i - 1] === '--preload' ? [a] : []));
  t.same(preloads, ['/m/skiff_worker_admission.py', '/m/skiff_http_guard.py'], 'the HTTP guard is loaded too');
  t.equal(c.env['SKIFF_DASK_HTTP_TOKEN'], 't'.repeat(43), 'its token comes by the environment');
  t.notOk(c.args.some((a) => a.includes('t'.repeat(43))), 'never on the command line');
});

t.test('a worker joins the scheduler\'s private address over TLS, without a nanny', async (t) => {
  const c = buildWorkerCommand({ python: 'py', listenHost: '10.0.2.9', scheduler, tls, name: 'worker-3', localDirectory: '/m/dask' });
  t.equal(c.args[3], 'tls://10.0.1.5:8786');
  t.ok(c.args.includes('--no-nanny'));
  t.equal(c.args[c.args.indexOf('--dashboard-address') + 1], '127.0.0.1:0', 'the HTTP server Dask starts despite --no-dashboard stays on loopback');
  t.equal(c.args[c.args.indexOf('--name') + 1], 'worker-3');
  t.equal(c.args[c.args.indexOf('--tls-key') + 1], tls.key);
  t.equal(c.env['DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION'], 'True');
  t.equal(c.env['DASK_DISTRIBUTED__WORKER__HTTP__ROUTES'], '[]', 'the worker\'s HTTP server serves no route to local users');
});

t.test('a worker runs as many threads as the broker says, else one per CPU, never a fixed 1', async (t) => {
  const base = { python: 'py', listenHost: '10.0.2.9', scheduler, tls, name: 'worker-3', localDirectory: '/m/dask', cpus: () => 8 };
  const threads = (c: { args: string[] }) => c.args[c.args.indexOf('--nthreads') + 1];
  t.equal(threads(buildWorkerCommand({ ...base, nthreads: 4 })), '4', 'the broker\'s nthreads');
  t.equal(threads(buildWorkerCommand(base)), '8', 'all CPUs when the broker sends none');
  t.equal(threads(buildWorkerCommand({ ...base, nthreads: 0 })), '8', 'a nonsensical count falls back to the CPUs');
  const { cpus: _cpus, ...real } = base;
  t.equal(threads(buildWorkerCommand(real)), String((await import('node:os')).availableParallelism()));
});
