#!/usr/bin/env node
// The skiff agent: one per machine. Enrols with the broker, then runs the Dask scheduler (with the 443
// gateway in front of it) or a Dask worker under supervision, until told to stop.
//
//   node agent/main.js --config /path/to/agent.json

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { agentConfigFromEnv, loadAgentConfig, type AgentConfig } from './config.js';
import { enrol } from './enrol/enrol.js';
import { createSupervisor, type Supervisor } from './supervisor/supervisor.js';
import { buildSchedulerCommand, buildWorkerCommand } from './supervisor/dask-command.js';
import { watchScheduler } from './scheduler-watch.js';
import { defaultExec, ensureDask } from './prepare.js';
import { startTelemetry } from './telemetry-run.js';
import { createHoldingDestination, startLogShipping } from './logs-run.js';
import { callBroker } from './broker-client.js';
import { createGateway } from './gateway/gateway.js';
import { createTokenVerifier } from '../broker/tokens/verifier.js';
import type { AgentEvent } from '../broker/api/wire.js';

/** Restart policy of the Dask process; the defaults suit a VM, tests shorten them through the environment. */
interface Tuning {
  initialBackoffMs: number;
  maxCrashes: number;
  /** Install Dask when it is missing, and power off on a fail-safe stop (on a VM; never on someone's own computer). */
  prepareDask: boolean;
  /** How often telemetry is collected and sent (default 5 s). */
  telemetryIntervalMs: number;
  /** The machine's boot log, shipped with everything else (on a VM). */
  bootLog?: string;
}

async function run(config: AgentConfig, log: Logger, tuning: Tuning, held: ReturnType<typeof createHoldingDestination>): Promise<void> {
  const { response, files } = await enrol(config, { log });
  const shipper = await startLogShipping({
    target: response.logs, clusterId: response.clusterId, machineId: config.machineId, spoolDir: join(config.machineDir, 'log-spool'), log,
    ...(tuning.bootLog ? { follow: [{ path: tuning.bootLog, source: 'boot' }] } : {}),
  });
  held.attach(shipper.pinoDestination('agent'));
  const report = async (e: AgentEvent): Promise<void> => {
    await callBroker(config.brokerUrl, 'POST', '/v1/agent/events', e, { token: response.agentToken, timeoutMs: 10_000 });
  };
  if (tuning.prepareDask) {
    try {
      await ensureDask({ python: config.python, log });
    } catch (err) {
      await report({ kind: 'failed', reason: `${response.machineName}: ${(err as Error).message}`, lastLogLines: [] }).catch(() => undefined);
      throw err;
    }
  }
  // Stops run last-first: the shipper closes after everything else, so the final lines ship too.
  const stops: Array<() => Promise<void> | void> = [() => shipper.close()];
  let supervisor: Supervisor;
  const giveUp = (reason: string, lastLines: string[]): void => {
    report({ kind: 'failed', reason: `${response.machineName}: ${reason}`, lastLogLines: lastLines }).catch((err: unknown) =>
      log.error({ err: (err as Error).message }, 'could not report failure to broker'),
    );
  };
  const onLine = (source: 'stdout' | 'stderr', line: string): void => {
    // Dask's own lines, as printed: to the log target, and to this process's output (the machine's local log).
    shipper.write(`dask-${response.role}:${source}`, line);
    process.stdout.write(`${line}\n`);
  };

  if (response.role === 'scheduler') {
    const cmd = buildSchedulerCommand({ python: config.python, listenHost: config.listenHost, scheduler: response.scheduler, tls: files });
    supervisor = createSupervisor({
      name: 'dask-scheduler', ...cmd, env: { ...process.env, ...cmd.env }, cwd: config.machineDir, log, onLine, onGiveUp: giveUp, initialBackoffMs: tuning.initialBackoffMs, maxCrashes: tuning.maxCrashes,
    });
    supervisor.start();
    const verifier = createTokenVerifier(response.tokenKey);
    const gateway = await createGateway({
      host: config.listenHost,
      port: response.scheduler.gatewayPort,
      daskTarget: { host: '127.0.0.1', port: response.scheduler.daskPort },
      httpTarget: { host: '127.0.0.1', port: response.scheduler.httpPort },
      tls: { certPem: response.certPem, keyPem: readFileSync(files.key, 'utf8') },
      verifyDashboardToken: async (token: string) => {
        try {
          await verifier.verify('dashboard', token, { cluster: response.clusterId });
          return true;
        } catch {
          return false;
        }
      },
      log,
    });
    stops.push(() => gateway.close());
    log.info({ gateway: gateway.address() }, 'gateway listening');
    const watch = watchScheduler({ httpBase: `http://127.0.0.1:${response.scheduler.httpPort}`, report, log });
    stops.push(() => watch.stop());
  } else {
    const localDirectory = join(config.machineDir, 'dask');
    mkdirSync(localDirectory, { recursive: true });
    const cmd = buildWorkerCommand({
      python: config.python, listenHost: config.listenHost, scheduler: response.scheduler, tls: files, name: response.machineName, localDirectory,
    });
    supervisor = createSupervisor({
      name: 'dask-worker', ...cmd, env: { ...process.env, ...cmd.env }, cwd: config.machineDir, log, onLine, onGiveUp: giveUp, initialBackoffMs: tuning.initialBackoffMs, maxCrashes: tuning.maxCrashes,
    });
    supervisor.start();
  }
  stops.push(() => supervisor.stop());

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
          log.warn({ err: (err as Error).message }, 'error while stopping');
        }
      }
      log.info({}, 'stopped');
      // On a VM the fail-safe powers the machine off; with terminate-on-shutdown that ends its bill too.
      if (powerOff) await defaultExec('shutdown', ['-h', 'now'], 30_000);
      process.exit(0);
    })();
  };
  const telemetryStops = await startTelemetry({
    brokerUrl: config.brokerUrl, listenHost: config.listenHost, enrolment: response, keyFile: files.key, intervalMs: tuning.telemetryIntervalMs,
    daskUp: () => supervisor.pid() !== undefined,
    shutdown: (reason) => {
      log.warn({ reason }, 'fail-safe: stopping this machine');
      shutdown('fail-safe', tuning.prepareDask);
    },
    log,
  });
  stops.push(...telemetryStops);
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}


function main(): void {
  const i = process.argv.indexOf('--config');
  const path = i >= 0 ? process.argv[i + 1] : undefined;
  const held = createHoldingDestination();
  const log = pino(
    { base: { component: 'agent' }, redact: ['token', 'enrolToken', 'agentToken', '*.token', 'keyPem'] },
    pino.multistream([{ stream: process.stdout }, { stream: held }]),
  );
  let config: Readonly<AgentConfig>;
  try {
    // Local machines get a config file; a VM gets its environment from the user-data (agent.env).
    config = path !== undefined ? loadAgentConfig(path) : agentConfigFromEnv(process.env);
    mkdirSync(config.machineDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'bad configuration');
    process.exit(2);
  }
  const child = log.child({ clusterId: config.clusterId, machineId: config.machineId, role: config.role });
  const tuning: Tuning = {
    initialBackoffMs: Number(process.env['SKIFF_AGENT_BACKOFF_MS'] ?? 500),
    maxCrashes: Number(process.env['SKIFF_AGENT_MAX_CRASHES'] ?? 5),
    prepareDask: process.env['SKIFF_BACKEND'] === 'aws',
    telemetryIntervalMs: Number(process.env['SKIFF_TELEMETRY_INTERVAL_MS'] ?? 5000),
    ...(process.env['SKIFF_BACKEND'] === 'aws' ? { bootLog: '/var/log/cloud-init-output.log' } : {}),
  };
  run(config, child, tuning, held).catch((err: unknown) => {
    child.fatal({ err: (err as Error).message, code: (err as { code?: string }).code }, 'agent failed');
    process.exit(1);
  });
}

// The SDK warns every Node 20 process about SDK releases of 2027; the versions skiff pins support Node 20.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
main();
