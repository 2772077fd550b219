// Enrolment: the agent makes its own key pair (the private key never leaves this machine), sends only a
// CSR with its single-use enrol token, and keeps what the broker answers. A restarted agent reuses its
// saved enrolment instead of enrolling again (the token is single-use, so it could not).
//
// A broker that is unreachable or answers 5xx/429 is retried with jittered exponential backoff until the
// deadline; the waits hold the event loop (a ref'd timer), so the process cannot slip out with exit code 0
// between two attempts. A refusal (4xx) or the deadline ends enrolment with an AGT_ENROL_FAILED error.

import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createKeyAndCsr } from '../../broker/api/csr.js';
import { isSkiffError, SkiffError } from '../../broker/api/errors.js';
import type { EnrolRequest, EnrolResponse, InstanceIdentity } from '../../broker/api/wire.js';
import { scrubEnrolToken, type AgentConfig } from '../config.js';
import { callBroker } from '../../broker/api/client.js';
import { ENROL_PATH } from '../../broker/api/routes.js';

export interface Enrolment {
  response: EnrolResponse;
  files: { ca: string; cert: string; key: string };
}

export interface EnrolOptions {
  log: Logger;
  /** Give up after this long without a successful enrolment (default 10 min). */
  deadlineMs?: number;
  /** Longest wait between two attempts (default 10 s); the first waits are 0.5, 1, 2 s... times 0.5-1 jitter. */
  maxBackoffMs?: number;
  /** Per-attempt timeout (default 15 s). */
  attemptTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  fetch?: typeof fetch;
  /** A VM's agent.env: rewritten without the enrol token once the machine has enrolled (see scrubEnrolToken). */
  envFile?: string;
  /** Evidence of the machine the broker verifies (on AWS, the signed instance identity document), read per attempt. */
  identity?: () => Promise<InstanceIdentity>;
}

/** A ref'd timer: a pending retry is work the process still has to do. */
const refSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function writePrivate(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function enrolmentFiles(machineDir: string): Enrolment['files'] & { saved: string } {
  const tlsDir = join(machineDir, 'tls');
  return { ca: join(tlsDir, 'ca.pem'), cert: join(tlsDir, 'cert.pem'), key: join(tlsDir, 'key.pem'), saved: join(machineDir, 'enrolment.json') };
}

/** The enrolment a previous run of this agent saved, if it is complete and readable. */
export function loadSavedEnrolment(machineDir: string, log: Logger): Enrolment | undefined {
  const { saved, ...files } = enrolmentFiles(machineDir);
  if (!existsSync(saved) || !existsSync(files.key) || !existsSync(files.cert) || !existsSync(files.ca)) return undefined;
  try {
    const response = JSON.parse(readFileSync(saved, 'utf8')) as EnrolResponse;
    if (typeof response.certPem !== 'string' || typeof response.role !== 'string') throw new Error('fields missing');
    return { response, files };
  } catch (err) {
    // Written by rename, so it is whole or absent; unreadable means damaged by hand. Enrolling again is the
    // only way on (the broker refuses a second enrolment of this machine, which then says why).
    log.warn({ path: saved, err: (err as Error).message }, 'saved enrolment unreadable; enrolling again');
    return undefined;
  }
}

export async function enrol(config: AgentConfig, opts: EnrolOptions): Promise<Enrolment> {
  const saved = loadSavedEnrolment(config.machineDir, opts.log);
  if (saved) {
    opts.log.info({ machineId: config.machineId }, 'reusing saved enrolment');
    return saved;
  }
  if (config.enrolToken === '') {
    throw new SkiffError('AGT_ENROL_FAILED', `machine ${config.machineId} enrolled before (its enrol token was removed then), but its saved enrolment under ${config.machineDir} is gone; a machine enrols once: replace it`);
  }
  const { saved: savedPath, ...files } = enrolmentFiles(config.machineDir);
  mkdirSync(join(config.machineDir, 'tls'), { recursive: true, mode: 0o700 });
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: `${config.clusterId}/${config.machineId}` });

  const sleep = opts.sleep ?? refSleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const deadlineMs = opts.deadlineMs ?? 600_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 10_000;
  const deadline = now() + deadlineMs;
  const body: EnrolRequest = { token: config.enrolToken, clusterId: config.clusterId, machineId: config.machineId, csrPem };
  for (let attempt = 1; ; attempt++) {
    try {
      const identity = opts.identity ? await opts.identity() : undefined;
      const response = await callBroker<EnrolResponse>(config.brokerUrl, 'POST', ENROL_PATH, identity ? { ...body, identity } : body, {
        token: config.enrolToken,
        timeoutMs: Math.max(1000, Math.min(opts.attemptTimeoutMs ?? 15_000, deadline - now())),
        code: 'AGT_BROKER_UNREACHABLE',
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      writePrivate(files.key, keyPem);
      writePrivate(files.cert, response.certPem);
      writePrivate(files.ca, response.caPem);
      // Last: its presence says the other three are complete.
      writePrivate(savedPath, JSON.stringify(response));
      opts.log.info({ attempt }, 'enrolled');
      if (opts.envFile !== undefined) scrubEnrolToken(opts.envFile, { clusterId: config.clusterId, role: config.role });
      return { response, files };
    } catch (err) {
      const message = (err as Error).message;
      if (!(isSkiffError(err) && err.retryable)) {
        throw new SkiffError('AGT_ENROL_FAILED', `the broker ${config.brokerUrl} refused enrolment: ${message}`, { cause: err });
      }
      const leftMs = deadline - now();
      if (leftMs <= 0) {
        throw new SkiffError('AGT_ENROL_FAILED', `could not enrol with the broker ${config.brokerUrl} within ${Math.round(deadlineMs / 1000)} s (${attempt} attempts); last error: ${message}`, { cause: err });
      }
      const waitMs = Math.min(leftMs, Math.min(maxBackoffMs, 250 * 2 ** Math.min(attempt, 10)) * (0.5 + random() / 2));
      opts.log.warn({ attempt, waitMs: Math.round(waitMs), err: message }, 'enrolment failed; retrying');
      await sleep(waitMs);
    }
  }
}
