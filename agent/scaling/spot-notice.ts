// On an EC2 worker: polls the instance metadata (IMDSv2) for the two notices EC2 gives before it takes a spot
// instance back: `spot/instance-action` (about two minutes ahead) and `events/recommendations/rebalance` (an
// elevated risk, often earlier). Either is reported once; the broker then retires this worker through Dask
// (its data moves to the others within those two minutes) and launches a replacement. Both paths answer 404
// until there is a notice.
import type { Logger } from 'pino';
import type { AgentEvent } from '../../broker/api/wire.js';

export interface SpotNoticeOptions {
  report: (e: Extract<AgentEvent, { kind: 'interrupted' }>) => Promise<void>;
  log: Logger;
  /** Default 5 s (EC2's guidance for the instance-action check). */
  pollMs?: number;
  /** Default http://169.254.169.254/latest. */
  imdsBase?: string;
  fetch?: typeof fetch;
}

const TOKEN_TTL_S = 21_600;

export function watchSpotNotices(o: SpotNoticeOptions): { stop(): void } {
  const f = o.fetch ?? fetch;
  const base = o.imdsBase ?? 'http://169.254.169.254/latest';
  const pollMs = o.pollMs ?? 5000;
  const log = o.log.child({ component: 'spot-notice' });
  let token: { value: string; untilMs: number } | undefined;
  let stopped = false;
  let reported = false;
  let timer: NodeJS.Timeout | undefined;

  const imdsToken = async (): Promise<string> => {
    if (token && token.untilMs > Date.now()) return token.value;
    const res = await f(`${base}/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_S) }, signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`IMDS token: HTTP ${res.status}`);
    token = { value: await res.text(), untilMs: Date.now() + (TOKEN_TTL_S - 60) * 1000 };
    return token.value;
  };
  const read = async (path: string): Promise<string | undefined> => {
    const res = await f(`${base}/meta-data/${path}`, { headers: { 'x-aws-ec2-metadata-token': await imdsToken() }, signal: AbortSignal.timeout(2000) });
    if (res.status === 404) return undefined;
    if (res.status === 401) token = undefined;
    if (!res.ok) throw new Error(`IMDS ${path}: HTTP ${res.status}`);
    return (await res.text()).slice(0, 500);
  };

  const tick = async (): Promise<void> => {
    const action = await read('spot/instance-action');
    const rebalance = action === undefined ? await read('events/recommendations/rebalance') : undefined;
    const notice = action !== undefined ? 'spot-interruption' : rebalance !== undefined ? 'rebalance' : undefined;
    if (!notice) return;
    log.warn({ notice, detail: action ?? rebalance }, 'EC2 notice: this worker will be retired');
    await o.report({ kind: 'interrupted', notice, detail: (action ?? rebalance ?? '').replace(/\s+/g, ' ') });
    reported = true;
  };

  const loop = (): void => {
    if (stopped || reported) return;
    tick()
      .catch((err: unknown) => log.debug({ err: (err as Error).message }, 'IMDS notice check failed'))
      .finally(() => {
        if (stopped || reported) return;
        timer = setTimeout(loop, pollMs);
        timer.unref();
      });
  };
  loop();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
