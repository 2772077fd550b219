#!/usr/bin/env node
// The skiff agent: one per machine. Enrols with the broker, then runs the Dask scheduler (with the 443
// gateway in front of it) or a Dask worker under supervision, until told to stop.
//
//   node agent/main.js --config /path/to/agent.json      (local machines)
//   node agent/main.js                                    (a VM: environment from /etc/skiff/agent.env)
//
// The process ends only through process.exit with a code chosen here: 0 for a requested stop, non-zero
// for every failure. A ref'd keep-alive timer makes sure an emptied event loop can never end it with 0
// (under systemd's Restart=always that would look like success and leave a VM idle, billing).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { agentConfigFromEnv, loadAgentConfig, loadAgentTuning, type AgentConfig, type AgentTuning } from './config.js';
import { enrol, type Enrolment } from './enrol/enrol.js';
import { readInstanceIdentity } from './enrol/instance-identity.js';
import { createSupervisor, type Supervisor } from './supervisor/supervisor.js';
import { buildSchedulerCommand, buildWorkerCommand } from './supervisor/dask-command.js';
import { writeAdmissionPlugin } from './supervisor/admission-plugin.js';
import { pinnedFetch } from '../broker/api/pinned-fetch.js';
import { DASK_HTTP_TOKEN_HEADER, daskHttpFetch, newDaskHttpToken, writeHttpGuardPlugin } from './supervisor/http-guard-plugin.js';
import { reapStale } from './supervisor/pid-file.js';
import { watchScheduler } from './scheduler-watch.js';
import { createExec, defaultExec, ensureDask, whichOnPath } from './prepare.js';
import { EnvironmentError, prepareEnvironment } from './software/environment.js';
import { INSTALL_ENV } from './software/installer.js';
import { createVersionWatch } from './software/version-check.js';
import { startTelemetry } from './telemetry-run.js';
import { createHoldingDestination, startLogShipping } from './logs-run.js';
import { callBroker } from '../broker/api/client.js';
import { reportBootFailure } from './boot-report.js';
import { createGateway } from './gateway/gateway.js';
import { dashboardCookieName } from './gateway/dashboard-auth.js';
import { createTokenVerifier } from '../broker/api/token-verifier.js';
import type { AgentEvent } from '../broker/api/wire.js';
import { AGENT_EVENTS_PATH, AGENT_SCALE_PATH } from '../broker/api/routes.js';
import type { AgentScaleState } from '../broker/api/wire.js';
import { startScaleController } from './scaling/controller.js';
import { watchSpotNotices } from './scaling/spot-notice.js';
import { createDataAccessHolder } from './data-access/holder.js';
import { startCredentialsServer } from './data-access/credentials-server.js';
import { daskEnvironment } from './data-access/dask-env.js';
import { describePayload, parseDataPayload } from '../broker/api/data-access.js';

type Stop = () => Promise<void> | void;
type Held = ReturnType<typeof createHoldingDestination>;

/** Every call to the broker: with its CA alone when it has a private one (pinned-fetch.ts), else the usual fetch. */
function brokerFetchFor(config: AgentConfig): typeof fetch {
  return config.brokerCaFile !== undefined ? pinnedFetch(readFileSync(config.brokerCaFile, 'utf8')) : fetch;
}

async function enrolOrReport(config: AgentConfig, tuning: AgentTuning, log: Logger, held: Held, brokerFetch: typeof fetch): Promise<Enrolment> {
  try {
    return await enrol(config, {
      log, deadlineMs: tuning.enrolDeadlineMs, fetch: brokerFetch,
      ...(tuning.backend === 'aws' ? { identity: () => readInstanceIdentity({ baseUrl: tuning.imdsUrl }) } : {}),
      ...(tuning.agentEnvFile !== undefined ? { envFile: tuning.agentEnvFile } : {}),
    });
  } catch (err) {
    log.fatal({ err }, 'enrolment failed');
    if (tuning.backend === 'aws') {
      const lines = held.recent();
      const identity = await readInstanceIdentity({ baseUrl: tuning.imdsUrl }).catch(() => undefined);
      await reportBootFailure({ brokerUrl: config.brokerUrl, enrolToken: config.enrolToken, machineId: config.machineId, step: 'enrol', lines, ...(identity ? { identity } : {}) }, { fetch: brokerFetch });
    }
    throw err;
  }
}

async function run(config: AgentConfig, tuning: AgentTuning, log: Logger, held: Held): Promise<void> {
  const brokerFetch = brokerFetchFor(config);
  const { response, files } = await enrolOrReport(config, tuning, log, held, brokerFetch);
  const onVm = tuning.backend === 'aws';
  const shipper = await startLogShipping({
    target: response.logs, clusterId: response.clusterId, machineId: config.machineId, spoolDir: join(config.machineDir, 'log-spool'), log,
    ...(tuning.bootLog ? { follow: [{ path: tuning.bootLog, source: 'boot' }] } : {}),
  });
  held.attach(shipper.pinoDestination('agent'));
  const report = async (e: AgentEvent): Promise<void> => {
    await callBroker(config.brokerUrl, 'POST', AGENT_EVENTS_PATH, e, { token: response.agentToken, timeoutMs: 10_000, code: 'AGT_BROKER_UNREACHABLE', fetch: brokerFetch });
  };
  let python = config.python;
  if (onVm) {
    try {
      python = await ensureDask({ python: config.python, log });
    } catch (err) {
      await report({ kind: 'failed', reason: `${response.machineName}: ${(err as Error).message}`, lastLogLines: held.recent() }).catch(() => undefined);
      throw err;
    }
  }
  const software = response.software;
  if (software?.mode === 'client') {
    // Stopped while it builds (the cluster failed or went down): undo the half-built environment, then end.
    let undo: (() => void) | undefined;
    const stopMidBuild = (): void => {
      undo?.();
      log.info({}, 'stopped while preparing the software environment');
      process.exit(0);
    };
    process.once('SIGTERM', stopMidBuild);
    process.once('SIGINT', stopMidBuild);
    try {
      const uv = whichOnPath('uv');
      python = await prepareEnvironment({
        software, envsDir: config.envsDir ?? join(config.machineDir, 'envs'), python, exec: createExec({ ...process.env, ...INSTALL_ENV }), log,
        ...(uv !== undefined ? { uv } : {}),
        progress: (detail) => {
          report({ kind: 'software', detail }).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not report software progress'));
        },
        onAbortable: (u) => (undo = u),
      });
    } catch (err) {
      const lines = err instanceof EnvironmentError && err.lastLines.length > 0 ? err.lastLines : held.recent();
      log.error({ err: (err as Error).message, lastLines: lines.slice(-10) }, 'software environment failed');
      await report({ kind: 'failed', reason: `${response.machineName}: ${(err as Error).message}`, lastLogLines: lines }).catch(() => undefined);
      throw err;
    } finally {
      process.off('SIGTERM', stopMidBuild);
      process.off('SIGINT', stopMidBuild);
    }
  }
  // Stops run last-first: the shipper closes after everything else, so the final lines ship too.
  const stops: Stop[] = [() => shipper.close()];
  const giveUp = (reason: string, lastLines: string[]): void => {
    report({ kind: 'failed', reason: `${response.machineName}: ${reason}`, lastLogLines: lastLines }).catch((err: unknown) =>
      log.error({ err }, 'could not report failure to broker'),
    );
  };
  const onLine = (source: 'stdout' | 'stderr', line: string): void => {
    // Dask's own lines, as printed: to the log target, and to this process's output (the machine's local log).
    shipper.write(`dask-${response.role}:${source}`, line);
    process.stdout.write(`${line}\n`);
  };
  // A Dask process left by a previous run of this agent (killed with SIGKILL) would hold its port or name.
  const pidFile = join(config.machineDir, 'dask.pid');
  await reapStale({ pidFile, marker: files.cert, log });
  // The client's data access (AWS credentials, secret variables) lives in this process's memory only. When the
  // cluster expects it, Dask starts once it is here: the scheduler's from the gateway, a worker's from its scheduler.
  const data = response.dataAccess;
  const expectsData = data !== undefined && (data.forwardAws || data.secretEnv.length > 0);
  const holder = createDataAccessHolder();
  let credentials: { url: string; token: string; tokenFile: string } | undefined;
  if (data?.forwardAws) {
    const server = await startCredentialsServer({ holder, log });
    stops.push(() => server.close());
    const tokenFile = join(config.machineDir, 'container-credentials-token');
    writeFileSync(tokenFile, server.token, { mode: 0o600 });
    credentials = { url: server.url, token: server.token, tokenFile };
  }
  const supervise = (name: string, cmd: { command: string; args: string[]; env: Record<string, string> }): Supervisor => {
    const payload = holder.current();
    return createSupervisor({
      name, ...cmd,
      env: daskEnvironment(process.env, {
        command: cmd.env, ...(response.env ? { env: response.env } : {}), ...(payload ? { payload } : {}), ...(credentials ? { credentials } : {}),
      }),
      cwd: config.machineDir, log, onLine, onGiveUp: giveUp, pidFile, initialBackoffMs: tuning.initialBackoffMs, maxCrashes: tuning.maxCrashes,
    });
  };

  let supervisor: Supervisor | undefined;
  let stopping = false;
  const shutdown = (signal: string, powerOff = false): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void (async () => {
      for (const stop of stops.reverse()) {
        try {
          await stop();
        } catch (err) {
          log.warn({ err }, 'error while stopping');
        }
      }
      log.info({}, 'stopped');
      if (!powerOff) process.exit(0);
      // On a VM the fail-safe powers the machine off; with terminate-on-shutdown that ends its bill too.
      const off = await defaultExec('shutdown', ['-h', 'now'], 30_000);
      if (off.code !== 0) log.fatal({ exitCode: off.code, output: off.output.trim().slice(-300) }, 'could not power the machine off');
      process.exit(off.code === 0 ? 0 : 1);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // The scheduler's HTTP server answers only requests with this token (http-guard-plugin.ts): made anew for each run.
  const daskHttpToken = newDaskHttpToken();
  const daskFetch = daskHttpFetch(daskHttpToken);
  // Telemetry first: a worker's data access arrives over it, and the fail-safe holds while Dask waits for it.
  const telemetryStops = await startTelemetry({
    ...(response.role === 'scheduler' ? { daskFetch } : {}),
    brokerUrl: config.brokerUrl, ...(config.brokerCaFile !== undefined ? { brokerCaPem: readFileSync(config.brokerCaFile, 'utf8') } : {}),
    listenHost: config.listenHost, enrolment: response, keyFile: files.key, intervalMs: tuning.telemetryIntervalMs,
    daskUp: () => supervisor?.pid() !== undefined,
    shutdown: (reason) => {
      log.warn({ reason }, 'fail-safe: stopping this machine');
      shutdown('fail-safe', onVm);
    },
    log, dataAccess: holder,
  });
  const waitForData = async (): Promise<void> => {
    if (!expectsData || holder.current()) return;
    log.info({ forwardAws: data.forwardAws, secretEnv: data.secretEnv }, response.role === 'scheduler'
      ? 'Dask starts once the client has delivered its data access (skiff up sends it)'
      : 'Dask starts once the scheduler has passed on the client\'s data access');
    await holder.first();
    log.info({}, 'data access received; starting Dask');
  };

  if (response.role === 'scheduler') {
    const admissionPlugin = writeAdmissionPlugin(config.machineDir);
    const verifier = createTokenVerifier(response.tokenKey);
    const gateway = await createGateway({
      host: config.listenHost,
      port: response.scheduler.gatewayPort,
      daskTarget: { host: '127.0.0.1', port: response.scheduler.daskPort },
      httpTarget: { host: '127.0.0.1', port: response.scheduler.httpPort, headers: { [DASK_HTTP_TOKEN_HEADER]: daskHttpToken } },
      dashboardCookieName: dashboardCookieName(response.clusterId),
      tls: { certPem: response.certPem, keyPem: readFileSync(files.key, 'utf8'), chainPem: response.caPem },
      verifyDashboardToken: async (token: string) => {
        try {
          await verifier.verify('dashboard', token, { cluster: response.clusterId });
          return true;
        } catch {
          return false;
        }
      },
      ...(expectsData ? {
        dataAccess: {
          caPem: response.caPem, clusterId: response.clusterId,
          onPayload: async (raw: unknown) => {
            const p = parseDataPayload(raw, data.secretEnv);
            if (data.forwardAws && !p.aws) throw new Error('this cluster forwards AWS credentials; the payload has none');
            const missing = holder.current() ? [] : data.secretEnv.filter((n) => !(n in p.secretEnv));
            if (missing.length > 0) throw new Error(`secret variables missing from the payload: ${missing.join(', ')}`);
            holder.set(p);
            const state = describePayload(p, new Date());
            log.info({ identity: state.identity, expiresAt: state.expiresAt, secretEnv: state.secretEnv }, 'data access received from the client');
            await report({ kind: 'data-access', state }).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not report data access to the broker'));
          },
        },
      } : {}),
      log,
    });
    stops.push(() => gateway.close());
    log.info({ gateway: gateway.address() }, 'gateway listening');
    await waitForData();
    if (stopping) return;
    const sup = supervise('dask-scheduler', buildSchedulerCommand({
      python, listenHost: config.listenHost, scheduler: response.scheduler, tls: files, clusterId: response.clusterId, admissionPlugin,
      httpGuard: { plugin: writeHttpGuardPlugin(config.machineDir), token: daskHttpToken },
    }));
    supervisor = sup;
    sup.start();
    const client = software?.client;
    const versions = client
      ? createVersionWatch({
        python, address: `tls://127.0.0.1:${response.scheduler.daskPort}`, tls: files, exec: defaultExec, report, log,
        client: { ...(software.python !== undefined ? { python: software.python } : {}), ...client },
      })
      : undefined;
    const httpBase = `http://127.0.0.1:${response.scheduler.httpPort}`;
    const scaling = startScaleController({
      readState: () => callBroker<AgentScaleState>(config.brokerUrl, 'GET', AGENT_SCALE_PATH, undefined, { token: response.agentToken, timeoutMs: 10_000, code: 'AGT_BROKER_UNREACHABLE', fetch: brokerFetch }),
      report, httpBase, fetch: daskFetch, log, pollMs: tuning.scalePollMs, adaptIntervalMs: tuning.adaptIntervalMs, coolDownMs: tuning.adaptCoolDownMs,
    });
    stops.push(() => scaling.stop());
    const watch = watchScheduler({
      httpBase, fetch: daskFetch, report, log, wanted: () => scaling.wanted(),
      ...(versions ? { onWorkers: (n: number) => versions.workersChanged(n) } : {}),
    });
    stops.push(() => watch.stop());
    if (versions) stops.push(() => versions.stop());
  } else {
    const localDirectory = join(config.machineDir, 'dask');
    mkdirSync(localDirectory, { recursive: true });
    if (onVm) {
      const notices = watchSpotNotices({ report, log, pollMs: tuning.spotPollMs, imdsBase: `${tuning.imdsUrl}/latest` });
      stops.push(() => notices.stop());
    }
    await waitForData();
    if (stopping) return;
    const sup = supervise('dask-worker', buildWorkerCommand({
      python, listenHost: config.listenHost, scheduler: response.scheduler, tls: files, name: response.machineName, localDirectory,
      ...(response.nthreads !== undefined ? { nthreads: response.nthreads } : {}),
    }));
    supervisor = sup;
    sup.start();
  }
  const started = supervisor;
  stops.push(() => started.stop());
  // Telemetry stops first (last in), as before: the machine's last report says Dask was up.
  stops.push(...telemetryStops);
}

function main(): void {
  // Nothing but process.exit ends the agent (see the top of this file).
  setInterval(() => undefined, 2 ** 30);
  // Keys, tokens, spools and Dask's own files are this user's only, whatever umask the agent was started with.
  process.umask(0o077);
  const i = process.argv.indexOf('--config');
  const path = i >= 0 ? process.argv[i + 1] : undefined;
  const held = createHoldingDestination();
  const log = pino(
    { base: { component: 'agent' }, redact: ['token', 'enrolToken', 'agentToken', '*.token', 'keyPem'] },
    pino.multistream([{ stream: process.stdout }, { stream: held }]),
  );
  let config: Readonly<AgentConfig>;
  let tuning: Readonly<AgentTuning>;
  try {
    // Local machines get a config file; a VM gets its environment from the user-data (agent.env).
    config = path !== undefined ? loadAgentConfig(path) : agentConfigFromEnv(process.env);
    tuning = loadAgentTuning(process.env);
    mkdirSync(config.machineDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    log.fatal({ err: (err as Error).message, code: (err as { code?: string }).code }, 'bad configuration');
    process.exit(2);
  }
  const child = log.child({ clusterId: config.clusterId, machineId: config.machineId, role: config.role });
  run(config, tuning, child, held).catch((err: unknown) => {
    child.fatal({ err, code: (err as { code?: string }).code }, 'agent failed');
    process.exit(1);
  });
}

// The SDK warns every Node 20 process about SDK releases of 2027; the versions skiff pins support Node 20.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
main();
