// Before the agent has enrolled it has no agent token, so a failure it cannot get past (the broker refused
// it, or never answered within the enrolment deadline) goes where the boot script reports its own: the
// broker's boot-failure endpoint, authenticated by the enrol token and the machine's proof of identity (on AWS
// its signed instance identity document, as for enrolment), with the step and the last log lines.
import { BOOT_FAILED_PATH } from '../broker/api/routes.js';
import type { InstanceIdentity } from '../broker/api/wire.js';

/** What one report carries at most: the broker keeps the last 20 lines, 300 characters each. */
const MAX_REPORT_BYTES = 16 * 1024;

export interface BootFailure {
  brokerUrl: string;
  enrolToken: string;
  machineId: string;
  step: string;
  lines: string[];
  /** Without it the broker refuses the report. */
  identity?: InstanceIdentity;
}

export interface BootReportOptions {
  fetch?: typeof fetch;
  attempts?: number;
  timeoutMs?: number;
  retryDelayMs?: number;
}

/** POSTs the failure (best effort, bounded: a few attempts of at most timeoutMs each); true when delivered. */
export async function reportBootFailure(f: BootFailure, o: BootReportOptions = {}): Promise<boolean> {
  const send = o.fetch ?? fetch;
  const attempts = o.attempts ?? 3;
  for (let i = 1; i <= attempts; i++) {
    try {
      const res = await send(new URL(BOOT_FAILED_PATH, f.brokerUrl), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${f.enrolToken}`,
          'content-type': 'text/plain; charset=utf-8',
          'x-skiff-machine-id': f.machineId,
          'x-skiff-step': f.step,
          ...(f.identity ? { 'x-skiff-identity-document': Buffer.from(f.identity.document, 'utf8').toString('base64'), 'x-skiff-identity-signature': f.identity.signature } : {}),
        },
        body: tail(f.lines.slice(-40).join('\n') + '\n', MAX_REPORT_BYTES),
        signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      if (res.ok) return true;
      if (res.status < 500 && res.status !== 429) return false;
    } catch {
      // unreachable: try again
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, o.retryDelayMs ?? 1000));
  }
  return false;
}

/** The last `maxBytes` of the text (whole characters). */
function tail(text: string, maxBytes: number): string {
  const b = Buffer.from(text, 'utf8');
  return b.length <= maxBytes ? text : b.subarray(b.length - maxBytes).toString('utf8').replace(/^\uFFFD+/, '');
}
