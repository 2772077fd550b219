// Enrolment: the agent makes its own key pair (the private key never leaves this machine), sends only a
// CSR with its single-use enrol token, and keeps what the broker answers. A restarted agent reuses its
// saved enrolment instead of enrolling again (the token is single-use, so it could not).

import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createKeyAndCsr } from '../../broker/pki/csr.js';
import { isSkiffError } from '../../broker/api/errors.js';
import type { EnrolRequest, EnrolResponse } from '../../broker/api/wire.js';
import type { AgentConfig } from '../config.js';
import { callBroker } from '../broker-client.js';

export interface Enrolment {
  response: EnrolResponse;
  files: { ca: string; cert: string; key: string };
}

export interface EnrolOptions {
  log: Logger;
  /** Give up after this long without a successful enrolment (default 10 min). */
  deadlineMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

function writePrivate(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export async function enrol(config: AgentConfig, opts: EnrolOptions): Promise<Enrolment> {
  const tlsDir = join(config.machineDir, 'tls');
  const files = { ca: join(tlsDir, 'ca.pem'), cert: join(tlsDir, 'cert.pem'), key: join(tlsDir, 'key.pem') };
  const savedPath = join(config.machineDir, 'enrolment.json');
  if (existsSync(savedPath) && existsSync(files.key) && existsSync(files.cert)) {
    opts.log.info({ machineId: config.machineId }, 'reusing saved enrolment');
    return { response: JSON.parse(readFileSync(savedPath, 'utf8')) as EnrolResponse, files };
  }
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: `${config.clusterId}/${config.machineId}` });

  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  const random = opts.random ?? Math.random;
  const deadline = Date.now() + (opts.deadlineMs ?? 600_000);
  const body: EnrolRequest = { token: config.enrolToken, clusterId: config.clusterId, machineId: config.machineId, csrPem };
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await callBroker<EnrolResponse>(config.brokerUrl, 'POST', '/v1/enrol', body, { timeoutMs: 15_000 });
      writePrivate(files.key, keyPem);
      writePrivate(files.cert, response.certPem);
      writePrivate(files.ca, response.caPem);
      writePrivate(savedPath, JSON.stringify(response));
      opts.log.info({ attempt }, 'enrolled');
      return { response, files };
    } catch (err) {
      const retryable = isSkiffError(err) && err.retryable;
      if (!retryable || Date.now() > deadline) throw err;
      const waitMs = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)) * (0.5 + random() / 2);
      opts.log.warn({ attempt, waitMs: Math.round(waitMs), err: (err as Error).message }, 'enrolment failed; retrying');
      await sleep(waitMs);
    }
  }
}
