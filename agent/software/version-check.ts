// On the scheduler's machine, once workers connect: asks Dask itself what the scheduler and every worker run
// (Client.get_versions, the same report Dask's own mismatch warning reads), compares it with the client's
// versions the cluster was created from, and tells the broker. The broker keeps a cluster `starting` until
// every launched worker was compared, so `skiff up` shows a mismatch when it says running.
//
// The check connects as a Dask client with this machine's own certificate, directly to the scheduler's TLS
// listener on loopback (not through the gateway).
import type { Logger } from 'pino';
import type { AgentEvent } from '../../broker/api/wire.js';
import { versionMismatches, type ReportedVersions } from '../../broker/api/versions.js';
import type { Exec } from '../prepare.js';

const CHECK = `
import json, sys, warnings
warnings.simplefilter("ignore")
from distributed import Client
from distributed.security import Security
addr, ca, cert, key = sys.argv[1:5]
sec = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
with Client(addr, security=sec, timeout="30s") as c:
    v = c.get_versions(check=False)
    names = {a: str(w.get("name", a)) for a, w in c.scheduler_info()["workers"].items()}
print(json.dumps({"scheduler": v["scheduler"]["packages"], "workers": {names.get(a, a): w["packages"] for a, w in v["workers"].items()}}))
`;

export interface VersionCheckOptions {
  python: string;
  address: string;
  tls: { ca: string; cert: string; key: string };
  /** The client's versions, "python" (major.minor) included. */
  client: Record<string, string>;
  exec: Exec;
  report: (e: AgentEvent) => Promise<void>;
  log: Logger;
  /** Attempts before the failure itself is reported (default 3), and the wait between them. */
  attempts?: number;
  retryMs?: number;
}

/** Runs the check once: what Dask reports, compared. */
export async function checkVersions(o: VersionCheckOptions): Promise<{ workers: number; mismatches: string[] }> {
  const r = await o.exec(o.python, ['-c', CHECK, o.address, o.tls.ca, o.tls.cert, o.tls.key], 90_000);
  const last = r.output.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (r.code !== 0 || last === undefined) throw new Error(`the Dask version report failed (exit ${r.code}): ${r.output.trim().split('\n').at(-1) ?? ''}`);
  const j = JSON.parse(last) as { scheduler: ReportedVersions['packages']; workers: Record<string, ReportedVersions['packages']> };
  const reported: ReportedVersions[] = [
    { machine: 'scheduler', packages: j.scheduler },
    ...Object.entries(j.workers).sort(([a], [b]) => a.localeCompare(b)).map(([machine, packages]) => ({ machine, packages })),
  ];
  return { workers: Object.keys(j.workers).length, mismatches: versionMismatches(o.client, reported) };
}

/**
 * Call `workersChanged(n)` whenever the scheduler counts n workers; checks run one at a time, and again when
 * the count changed meanwhile. Returns the function and a stop.
 */
export function createVersionWatch(o: VersionCheckOptions): { workersChanged(count: number): void; stop(): void } {
  const attempts = o.attempts ?? 3;
  const retryMs = o.retryMs ?? 2000;
  let wanted = -1;
  let running = false;
  let stopped = false;
  const loop = async (): Promise<void> => {
    running = true;
    try {
      while (!stopped && wanted >= 0) {
        const target = wanted;
        let event: AgentEvent | undefined;
        for (let i = 1; i <= attempts && !stopped; i++) {
          try {
            const r = await checkVersions(o);
            // Workers still connecting: the count it saw is what it compared.
            event = { kind: 'versions', workers: r.workers, mismatches: r.mismatches };
            break;
          } catch (err) {
            o.log.warn({ attempt: i, err: (err as Error).message }, 'version check failed');
            if (i === attempts) event = { kind: 'versions', workers: target, mismatches: [], error: (err as Error).message.slice(0, 400) };
            else await new Promise((res) => setTimeout(res, retryMs).unref());
          }
        }
        if (event && !stopped) {
          o.log.info({ workers: event.kind === 'versions' ? event.workers : 0, mismatches: event.kind === 'versions' ? event.mismatches : [] }, 'versions compared with the client');
          await o.report(event).catch((err: unknown) => o.log.warn({ err: (err as Error).message }, 'could not report the version check'));
        }
        if (wanted === target) wanted = -1;
      }
    } finally {
      running = false;
    }
  };
  return {
    workersChanged(count) {
      wanted = count;
      if (!running) void loop();
    },
    stop() {
      stopped = true;
    },
  };
}
