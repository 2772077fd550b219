// The simulator's core, run inside the outer namespace by startEc2Sim():
//   nsenter --net=/run/netns/<outer> node --import tsx test/sim/daemon.ts <config.json>
// (nsenter, not `ip netns exec`: the daemon must stay in the host's mount namespace, so the VM namespaces it
// adds with `ip netns add` are visible to the test process, which removes them in the end).
// It runs moto, IMDS and the machines loop, and answers the test process on stdin/stdout (channel.ts).
// When stdin closes without a shutdown request (the test process died), it removes everything itself.

import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAwsFacts } from './aws-facts.js';
import { readMessages, writeMessage } from './channel.js';
import { createIdentitySigner } from './identity.js';
import { createImdsServer } from './imds.js';
import { createMachines } from './machines.js';
import { startMotoServer } from './moto-server.js';
import { IMDS_IP } from './names.js';
import { configureOuter, ourNamespaces, sweepNamespace } from './netns.js';
import { listenUnixToTcp } from './port-forward.js';
import type { DaemonConfig, FromDaemon, RpcParams, RpcResults, ToDaemon } from './types.js';

const cfg = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as DaemonConfig;
const sim = { id: cfg.id, outerNs: cfg.outerNs, nsPrefix: cfg.nsPrefix, vethPrefix: cfg.vethPrefix };
// Once the test process is gone its pipes are closed: writing then fails (EPIPE), which must not kill the
// daemon in the middle of its cleanup.
let orphaned = false;
process.stdout.on('error', () => (orphaned = true));
process.stderr.on('error', () => (orphaned = true));
const log = (line: string) => {
  if (!orphaned) process.stderr.write(`[ec2-sim ${cfg.id}] ${line}\n`);
};
const send = (m: FromDaemon) => {
  if (!orphaned) writeMessage(process.stdout, m);
};

if (readlinkSync('/proc/self/ns/net') === cfg.hostNetNs) {
  send({ type: 'fatal', error: 'the daemon runs in the host network namespace; start it with nsenter --net=/run/netns/<outer>' });
  process.exit(70);
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

async function main(): Promise<void> {
  await configureOuter(sim);
  const moto = await startMotoServer({ stateRoot: cfg.stateRoot, python: cfg.motoPython, log });
  const client = { endpoint: moto.endpoint, region: cfg.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 2 };
  const ec2 = new EC2Client(client);
  const facts = createAwsFacts(ec2, new IAMClient(client));
  const signer = createIdentitySigner();
  writeFileSync(join(cfg.stateRoot, 'identity-cert.pem'), signer.certPem);
  const machines = createMachines({ ec2, facts, sim, cfg, signer, log, emit: (vm) => send({ type: 'vm', vm }) });
  const imds = createImdsServer({ metadataFor: (ip) => machines.metadataFor(ip) });
  await listen(imds, IMDS_IP, 80);
  const exposed = new Map<string, NetServer>();
  mkdirSync(join(cfg.stateRoot, 'fwd'), { recursive: true });

  let stopping = false;
  const loop = (async () => {
    let lastError = '';
    while (!stopping) {
      try {
        await machines.tick();
        lastError = '';
      } catch (err) {
        // Logged once per distinct error: moto restarting in a test must not flood the log.
        const text = String(err);
        if (text !== lastError) log(`poll failed: ${text}`);
        lastError = text;
      }
      await sleep(cfg.pollIntervalMs);
    }
  })();

  async function teardown(): Promise<void> {
    stopping = true;
    await loop;
    await machines.destroyAll('simulator stopped');
    imds.closeAllConnections();
    imds.close();
    for (const s of exposed.values()) s.close();
    await moto.stop();
  }

  const handlers: { [M in keyof RpcParams]: (p: RpcParams[M]) => Promise<RpcResults[M]> } = {
    expose: async ({ host, port }) => {
      const key = `${host}-${port}`;
      const socketPath = join(cfg.stateRoot, 'fwd', `${key}.sock`);
      if (!exposed.has(key)) exposed.set(key, await listenUnixToTcp(socketPath, host, port));
      return { socketPath };
    },
    canConnect: async ({ host, port, timeoutMs }) => ({ connected: await canConnect(host, port, timeoutMs) }),
    setSpotAction: async ({ instanceId, action }) => (machines.setSpotAction(instanceId, action), {}),
    setRebalance: async ({ instanceId, noticeTime }) => (machines.setRebalance(instanceId, noticeTime), {}),
    setImage: async ({ key, profile }) => (machines.setImage(key, profile), {}),
    shutdown: async () => {
      await teardown();
      return {};
    },
  };

  let shutdownRequested = false;
  readMessages<ToDaemon>(
    process.stdin,
    (m) => {
      if (m.type !== 'request') return;
      if (m.method === 'shutdown') shutdownRequested = true;
      const handler = handlers[m.method] as (p: unknown) => Promise<unknown>;
      handler(m.params)
        .then((result) => send({ type: 'response', id: m.id, ok: true, result }))
        .catch((err: unknown) => send({ type: 'response', id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }))
        .finally(() => {
          if (m.method === 'shutdown') process.exit(0);
        });
    },
    (line) => log(`ignored on stdin: ${line.slice(0, 200)}`),
  );
  // The test process is gone (killed, or it never asked to stop): leave nothing behind.
  process.stdin.once('close', () => {
    if (shutdownRequested) return;
    orphaned = true;
    void teardown()
      .catch((err: unknown) => log(`teardown: ${String(err)}`))
      .finally(() => {
        // VMs first, then the outer namespace: everything in it but this process, then its name.
        for (const ns of ourNamespaces(sim)) sweepNamespace(sim, ns);
        rmSync(cfg.stateRoot, { recursive: true, force: true });
        process.exit(0);
      });
  });

  send({ type: 'ready', motoEndpoint: moto.endpoint, identityCertPem: signer.certPem });
}

main().catch((err: unknown) => {
  send({ type: 'fatal', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(70);
});
