// Runs the control plane: store, token issuer, cluster service, HTTP API. One broker per $SKIFF_HOME,
// guarded by a lock file; it remembers its port so agents started before a restart find it again.

import { randomBytes, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { SkiffError } from './api/errors.js';
import { cleartextRefusal, isEmulatorEndpoint, isLoopbackHost } from './api/endpoints.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createApiHandler } from './http/server.js';
import { guardConnections } from './http/connection-guard.js';
import { BROKER_HANDSHAKE_TIMEOUT_MS, BROKER_HEADERS_TIMEOUT_MS, BROKER_MAX_CONNECTIONS, BROKER_MAX_CONNECTIONS_PER_ADDRESS, BROKER_REQUEST_TIMEOUT_MS } from './api/limits.js';
import { createClusterService, type ClusterService } from './clusters/service.js';
import { createWatchdog } from './watchdog/watchdog.js';
import { createWatchWriter } from './watchdog/watch-state.js';
import { createLeadership, type Leadership } from './leader/leadership.js';
import { createTelemetryEndpoint } from './watchdog/telemetry-endpoint.js';
import { TELEMETRY_PATH } from './api/routes.js';
import { createWebhookNotifier, type NotificationEvent, type WebhookNotifier } from './watchdog/notify.js';
import { makeHomePrivate, skiffPaths, type BrokerInfo } from './home.js';
import { loadWorkspaceConfig } from './config.js';
import { openStore, type Store } from './store/store.js';
import type { CaStore } from './clusters/ca-store.js';
import type { Jwk } from './api/tokens.js';
import { createTokenIssuer } from './tokens/issuer.js';
import { createLocalBackend } from '../provisioner/local/local-backend.js';
import { processAlive, type Backend } from '../provisioner/backend.js';
import { createAwsBackend } from '../provisioner/aws/aws-backend.js';
import { createPortCache } from '../provisioner/aws/sdk-clients.js';
import { bundleSourceDir, packAgentBundle } from './bundle.js';
import { join } from 'node:path';
import type { BackendName } from './api/wire.js';
import { createBrokerAuth, type AwsIamSettings } from './auth/broker-auth.js';

export interface BrokerOptions {
  home: string;
  host?: string;
  /** 0 = reuse the last port if free, else any free port. */
  port?: number;
  python: string;
  log: Logger;
  version: string;
  /** Extra environment for local agents (tests shorten timers with it). */
  agentEnv?: Record<string, string>;
  /** URL machines use to reach this broker, when not the one it listens on (behind a proxy or NAT). */
  publicUrl?: string;
  /** Serve HTTPS with this certificate and key (PEM); `caPem` is the CA it chains to, pinned on the machines. */
  tls?: { certPem: string; keyPem: string; caPem?: string };
  /** How often running clusters are reconciled with their requested worker count (default 5 s). */
  scaleIntervalMs?: number;
  /** How often the watchdog checks every cluster (default 5 s). */
  watchdogIntervalMs?: number;
  /** Default webhook for every cluster's notifications (a cluster may name its own). */
  webhookUrl?: string;
  /** Region for CloudWatch logs of local clusters (AWS_REGION). */
  awsRegion?: string;
  /** AWS_ENDPOINT_URL: an emulator endpoint (tests) allows a loopback broker URL for the aws backend. */
  awsEndpointUrl?: string;
  /**
   * SKIFF_AWS_IDENTITY_CERT, tests only and only with awsEndpointUrl: a PEM certificate trusted instead of AWS's
   * regional ones for machines' identity documents (the EC2 simulator's test key).
   */
  awsIdentityCertPath?: string;
  /** People are their IAM identity (`--auth aws-iam`); default: the API key of $SKIFF_HOME, one person's. */
  auth?: AwsIamSettings;
  /** The store to use instead of the journal under home (the broker closes it). */
  store?: Store;
  /**
   * The store is shared with other brokers (the workspace's DynamoDB table): each writes what its agents report
   * for the leader to read, and the leader picks up clusters another broker started (broker/leader/).
   */
  sharedStore?: boolean;
  /** The leader lease's lifetime (default 15 s): a killed leader is replaced within it. */
  leaseTtlMs?: number;
  /** The cluster CA store instead of the key files under home (the deployed broker's, sealed with KMS). */
  caStore?: CaStore;
  /** The token signing key (a private JWK) instead of the one under home (the deployed broker's, unsealed). */
  tokenPrivateJwk?: Jwk;
  /** Log every request (method, path, status, time) and every failed TLS handshake: a deployed broker's log. */
  logRequests?: boolean;
}

export interface RunningBroker {
  url: string;
  close(): Promise<void>;
}

function takeLock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
        throw new SkiffError('BRK_CONFLICT', `a broker (pid ${holder}) already runs for this SKIFF_HOME; stop it with \`skiff broker stop\``);
      }
      rmSync(path, { force: true }); // stale: its broker died without cleaning up
    }
  }
  throw new SkiffError('BRK_CONFLICT', `could not take the broker lock ${path}`);
}

function loadOrCreateApiKey(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const key = randomBytes(32).toString('base64url');
  writeFileSync(`${path}.tmp`, key, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return key;
}

/** The tests' identity certificate: refused outright unless an emulator is configured, so AWS's are never bypassed. */
function loadIdentityTestCert(o: BrokerOptions): string | undefined {
  if (o.awsIdentityCertPath === undefined) return undefined;
  if (!isEmulatorEndpoint(o.awsEndpointUrl)) {
    throw new SkiffError('BRK_CONFIG', `SKIFF_AWS_IDENTITY_CERT is for tests against an AWS emulator (AWS_ENDPOINT_URL on loopback or a documentation range) only${o.awsEndpointUrl ? `, and ${o.awsEndpointUrl} is not one` : ''}; against AWS the broker verifies machines with AWS's own certificates: unset it`);
  }
  let pem: string;
  try {
    pem = readFileSync(o.awsIdentityCertPath, 'utf8');
    new X509Certificate(pem);
  } catch (err) {
    throw new SkiffError('BRK_CONFIG', `SKIFF_AWS_IDENTITY_CERT ${o.awsIdentityCertPath} is not a readable PEM certificate: ${(err as Error).message}`);
  }
  o.log.warn({ path: o.awsIdentityCertPath }, 'tests: trusting a test certificate instead of AWS\'s for instance identity documents');
  return pem;
}

export async function startBroker(o: BrokerOptions): Promise<RunningBroker> {
  const p = skiffPaths(o.home);
  mkdirSync(p.brokerDir, { recursive: true, mode: 0o700 });
  makeHomePrivate(p);
  const workspace = loadWorkspaceConfig(p.config); // a bad config stops the broker here, with the reason
  const identityTestCertPem = loadIdentityTestCert(o);
  // Plain HTTP only on loopback: anywhere else the API key, tokens and CSRs would cross a network in clear.
  if (!o.tls && !isLoopbackHost(o.host ?? '127.0.0.1')) {
    throw new SkiffError('BRK_CONFIG', `the broker would listen on ${o.host} without TLS, so keys and tokens would travel in clear; give --tls-cert and --tls-key (a private CA works, see --tls-ca), or listen on 127.0.0.1`);
  }
  if (o.publicUrl !== undefined && cleartextRefusal(o.publicUrl) !== undefined) {
    throw new SkiffError('BRK_CONFIG', `--public-url ${o.publicUrl}: ${cleartextRefusal(o.publicUrl) ?? ''}`);
  }
  const releaseLock = takeLock(p.brokerLock);
  try {
    const host = o.host ?? '127.0.0.1';
    let lastPort = 0;
    try {
      lastPort = (JSON.parse(readFileSync(p.brokerInfo, 'utf8')) as BrokerInfo).port;
    } catch {
      // first start
    }
    const store = o.store ?? openStore(p.store);
    const tokens = createTokenIssuer(o.tokenPrivateJwk ? { privateJwk: o.tokenPrivateJwk } : { keyDir: p.tokenKeyDir });
    // Before binding: a broker that cannot say who may use it does not start.
    const auth = await createBrokerAuth(o.auth ?? { mode: 'api-key', apiKey: loadOrCreateApiKey(p.apiKey) }, { store, tokens, log: o.log.child({ component: 'auth' }) });

    // The URL must be known before the cluster service exists (agents are told it), so bind first and
    // attach the API once it does.
    // HTTPS when given a certificate (a broker that VMs reach over the internet); plain HTTP on loopback.
    // Bounded in time (headers, whole request, TLS handshake; checked every second, not Node's 30 s) and in
    // connections (in all and per address), so slow or idle clients cannot pile up sockets or memory.
    const bounds = { headersTimeout: BROKER_HEADERS_TIMEOUT_MS, requestTimeout: BROKER_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 };
    const server = o.tls
      ? createHttpsServer({ cert: o.tls.certPem, key: o.tls.keyPem, handshakeTimeout: BROKER_HANDSHAKE_TIMEOUT_MS, ...bounds })
      : createServer(bounds);
    if (o.logRequests) logTraffic(server, o.log.child({ component: 'http' }));
    guardConnections(server, { maxConnections: BROKER_MAX_CONNECTIONS, maxPerAddress: BROKER_MAX_CONNECTIONS_PER_ADDRESS });
    const listen = (port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    const wanted = o.port ?? 0;
    try {
      await listen(wanted !== 0 ? wanted : lastPort);
    } catch (err) {
      if (wanted !== 0 || lastPort === 0) throw err;
      await listen(0);
    }
    const port = (server.address() as AddressInfo).port;
    const url = `${o.tls ? 'https' : 'http'}://${host}:${port}`;

    const publicUrl = o.publicUrl ?? url;
    const backends: Partial<Record<BackendName, Backend>> = {
      local: createLocalBackend({ machinesDir: p.machinesDir, python: o.python, ...(o.agentEnv ? { agentEnv: o.agentEnv } : {}) }),
    };
    // The aws backend needs the agent bundle VMs download; it exists once `npm run build` has run.
    const bundleDir = bundleSourceDir();
    const bundle = bundleDir ? packAgentBundle(bundleDir, join(p.brokerDir, 'bundle')) : undefined;
    if (bundle) {
      backends.aws = createAwsBackend({
        portFor: createPortCache(), bundle: { path: bundle.path, sha256: bundle.sha256, entry: bundle.entry }, log: o.log,
        ...(identityTestCertPem !== undefined ? { identityTestCertPem } : {}),
      });
    } else {
      o.log.warn({}, 'no agent bundle (run `npm run build`): the aws backend is not available');
    }
    const webhooks = createWebhooks(o.log.child({ component: 'webhook' }));
    // The watchdog decides; the cluster service acts (stop with the reason, or store an alert).
    const watchdogRef: { clusters?: ClusterService } = {};
    const leader: { current?: Leadership } = {};
    const isLeader = (): boolean => leader.current?.isLeader() ?? false;
    const watchdog = createWatchdog({
      active: isLeader,
      checkIntervalMs: o.watchdogIntervalMs ?? 5000,
      log: o.log.child({ component: 'watchdog' }),
      onStop: (clusterId, reason) => {
        watchdogRef.clusters?.down(clusterId, { reason }).catch((err: unknown) => o.log.error({ clusterId, err }, 'watchdog stop failed'));
      },
      onAlert: (clusterId, reason) => {
        watchdogRef.clusters?.alert(clusterId, reason).catch((err: unknown) => o.log.error({ clusterId, err }, 'storing a watchdog alert failed'));
      },
    });
    const clusters = createClusterService({
      store, tokens, backends, caDir: p.caDir, ...(o.caStore ? { caStore: o.caStore } : {}), brokerUrl: publicUrl, ...(o.tls ? pinnedCa(o.tls) : {}), awsEmulated: isEmulatorEndpoint(o.awsEndpointUrl), log: o.log.child({ component: 'clusters' }),
      watchdog, isLeader, logsDir: p.logsDir, ...(o.scaleIntervalMs !== undefined ? { scaleIntervalMs: o.scaleIntervalMs } : {}), ...(o.awsRegion ? { defaultRegion: o.awsRegion } : {}),
      ...(workspace.watchdog ? { workspaceWatchdog: workspace.watchdog } : {}),
      onNotification: (n, c) => {
        const url = c.webhookUrl ?? o.webhookUrl ?? workspace.webhookUrl;
        if (url) webhooks.send(url, { at: n.at, clusterId: c.id, clusterName: c.name, kind: n.kind, reason: n.reason ?? n.state ?? '' });
      },
    });
    watchdogRef.clusters = clusters;
    const watchWriter = o.sharedStore ? createWatchWriter({ store, log: o.log.child({ component: 'watch' }) }) : undefined;
    // The leader of a shared store watches every running cluster, whichever broker started it, and folds in what
    // the other brokers' agents report.
    const syncFromStore = async (): Promise<void> => {
      const all = await store.clusters();
      const running = new Set(all.filter((c) => c.state === 'running').map((c) => c.id));
      const watching = new Set(watchdog.tracked());
      for (const c of all) if (running.has(c.id) && !watching.has(c.id)) watchdog.track(c.id, { ...workspace.watchdog, ...c.watchdog });
      for (const id of watching) {
        if (running.has(id)) continue;
        watchdog.untrack(id);
        watchWriter?.forget(id);
        await store.deleteWatch(id);
      }
      for (const w of await store.watches()) watchdog.merge(w.clusterId, w);
    };
    let syncTimer: NodeJS.Timeout | undefined;
    let syncing = false;
    const syncSoon = (): void => {
      if (syncing || !isLeader()) return;
      syncing = true;
      syncFromStore()
        .catch((err: unknown) => o.log.warn({ err: (err as Error).message }, "reading the other brokers' watch states failed; retrying"))
        .finally(() => {
          syncing = false;
        });
    };
    const leadership = createLeadership({
      store,
      log: o.log.child({ component: 'leader' }),
      // Alone on its store (the home's lock keeps it so), a broker is the same holder across restarts and leads at
      // once; on a shared store a killed broker's lease must run out first.
      ...(o.sharedStore ? {} : { holder: `home:${p.home}` }),
      ...(o.leaseTtlMs !== undefined ? { ttlMs: o.leaseTtlMs } : {}),
      onChange: (leading) => {
        if (!leading) {
          if (syncTimer) clearInterval(syncTimer);
          syncTimer = undefined;
          return;
        }
        // Taken up where the last leader (or this broker's last run) left every cluster.
        clusters
          .recover()
          .then(() => (o.sharedStore ? syncFromStore() : undefined))
          .catch((err: unknown) => o.log.error({ err }, 'recovery failed'));
        if (o.sharedStore && !syncTimer) {
          syncTimer = setInterval(syncSoon, o.watchdogIntervalMs ?? 5000);
          syncTimer.unref();
        }
      },
    });
    leader.current = leadership;
    const telemetry = createTelemetryEndpoint({
      verifyAgentToken: async (t) => {
        const v = await tokens.verify('agent', t);
        return { cluster: v.cluster ?? '', role: v.role ?? '' };
      },
      onSummary: (clusterId, summary) => {
        watchdog.observe(clusterId, summary);
        watchWriter?.report(clusterId, summary);
      },
      log: o.log.child({ component: 'telemetry' }),
    });
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://broker').pathname === TELEMETRY_PATH) telemetry.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    watchdog.start();
    server.on('request', createApiHandler({ clusters, tokens, auth, log: o.log.child({ component: 'api' }), version: o.version, isLeader, ...(bundle ? { bundle } : {}) }));

    const info: BrokerInfo = { url, pid: process.pid, port, startedAt: new Date().toISOString() };
    writeFileSync(`${p.brokerInfo}.tmp`, JSON.stringify(info), { mode: 0o600 });
    renameSync(`${p.brokerInfo}.tmp`, p.brokerInfo);
    o.log.info({ url, home: p.home }, 'broker listening');
    leadership.start();

    return {
      url,
      close: async () => {
        if (syncTimer) clearInterval(syncTimer);
        await leadership.stop();
        watchdog.stop();
        clusters.close();
        telemetry.close();
        webhooks.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await store.close();
        releaseLock();
      },
    };
  } catch (err) {
    releaseLock();
    throw err;
  }
}

/**
 * The certificate the machines pin to reach this broker: the CA given, else the broker's own certificate when
 * it is self-signed. A certificate from a public CA needs no pin (the machines trust the system's CAs).
 */
function pinnedCa(tls: { certPem: string; caPem?: string }): { brokerCaPem?: string } {
  if (tls.caPem !== undefined) return { brokerCaPem: tls.caPem.trim() + '\n' };
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(tls.certPem)?.[0];
  if (!first) return {};
  const cert = new X509Certificate(first);
  return cert.checkIssued(cert) && cert.verify(cert.publicKey) ? { brokerCaPem: first + '\n' } : {};
}

/** One line per request once answered (the path without its query), and one per TLS handshake that failed. */
function logTraffic(server: Server, log: Logger): void {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    res.once('finish', () => {
      log.info({ method: req.method, path: (req.url ?? '').split('?')[0]?.slice(0, 120), status: res.statusCode, ms: Math.round(performance.now() - t0), remote: req.socket.remoteAddress }, 'request');
    });
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log.warn({ remote: socket.remoteAddress, code: err.code, message: err.message }, 'TLS handshake failed');
  });
}

/** One notifier per webhook URL, made on first use. */
function createWebhooks(log: Logger): { send(url: string, e: NotificationEvent): void; close(): void } {
  const notifiers = new Map<string, WebhookNotifier>();
  return {
    send(url, e) {
      let n = notifiers.get(url);
      if (!n) notifiers.set(url, (n = createWebhookNotifier({ url, log })));
      n.send(e);
    },
    close() {
      for (const n of notifiers.values()) n.close();
    },
  };
}
