// Webhook delivery of notifications: a JSON POST with a Slack-compatible `text` field. Fire and forget:
// `send()` only puts the event in a bounded in-memory queue and returns; one sender drains it, one request
// at a time, each with a timeout, retrying 5xx/429/network failures with jittered backoff up to a deadline.
// A full queue drops the newest event and counts it (logged once per burst), so the watchdog never waits.

import type { Logger } from 'pino';

export interface NotificationEvent {
  /** ISO time of the decision. */
  at: string;
  clusterId: string;
  clusterName?: string;
  /** e.g. 'stop', 'alert', 'state'. */
  kind: string;
  reason: string;
}

export type SendOutcome = 'success' | 'retryable' | 'failure';

export interface WebhookOptions {
  url: string;
  log: Logger;
  fetch?: typeof fetch;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
  /** Default 1000 events. */
  maxQueue?: number;
  /** Attempts per event, the first included. Default 5. */
  maxAttempts?: number;
  /** Backoff ceiling grows baseDelayMs × 2^attempt up to maxDelayMs, full jitter. Defaults 500 ms, 30 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  setTimeout?: (fn: () => void, ms: number) => { unref?(): unknown };
}

export interface WebhookNotifier {
  send(e: NotificationEvent): void;
  /** Resolves when the queue is empty and nothing is in flight (tests, shutdown). */
  idle(): Promise<void>;
  stats(): { delivered: number; failed: number; dropped: number; queued: number };
  close(): void;
}

export function slackText(e: NotificationEvent): string {
  const who = e.clusterName ? `${e.clusterName} (${e.clusterId})` : e.clusterId;
  const what = e.kind === 'alert' ? 'alert' : e.kind === 'stop' ? 'stopped' : e.kind;
  return `skiff: cluster ${who} ${what}: ${e.reason}`;
}

export function createWebhookNotifier(o: WebhookOptions): WebhookNotifier {
  const doFetch = o.fetch ?? fetch;
  const maxQueue = o.maxQueue ?? 1000;
  const maxAttempts = o.maxAttempts ?? 5;
  const random = o.random ?? Math.random;
  const later = o.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
  const queue: NotificationEvent[] = [];
  const counts = { delivered: 0, failed: 0, dropped: 0 };
  let droppedSinceLog = 0;
  let running = false;
  let closed = false;
  let waiters: Array<() => void> = [];

  const sleep = (ms: number) => new Promise<void>((resolve) => later(resolve, ms).unref?.());

  const attempt = async (e: NotificationEvent): Promise<SendOutcome> => {
    try {
      const res = await doFetch(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: slackText(e), ...e }),
        signal: AbortSignal.timeout(o.timeoutMs ?? 5000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'success';
      return res.status >= 500 || res.status === 429 ? 'retryable' : 'failure';
    } catch {
      return 'retryable'; // network error or timeout
    }
  };

  const deliver = async (e: NotificationEvent): Promise<void> => {
    for (let n = 1; ; n++) {
      const outcome = await attempt(e);
      if (outcome === 'success') {
        counts.delivered++;
        return;
      }
      if (outcome === 'failure' || n >= maxAttempts || closed) {
        counts.failed++;
        o.log.warn({ clusterId: e.clusterId, kind: e.kind, attempts: n, outcome }, 'webhook delivery failed');
        return;
      }
      const ceiling = Math.min(o.maxDelayMs ?? 30_000, (o.baseDelayMs ?? 500) * 2 ** (n - 1));
      await sleep(Math.floor(random() * ceiling));
    }
  };

  const run = async (): Promise<void> => {
    running = true;
    try {
      for (let e = queue.shift(); e !== undefined && !closed; e = queue.shift()) await deliver(e);
    } finally {
      running = false;
      if (droppedSinceLog > 0) {
        o.log.warn({ dropped: droppedSinceLog, totalDropped: counts.dropped }, 'webhook queue was full; notifications dropped');
        droppedSinceLog = 0;
      }
      const w = waiters;
      waiters = [];
      for (const resolve of w) resolve();
    }
  };

  return {
    send(e) {
      if (closed) return;
      if (queue.length >= maxQueue) {
        counts.dropped++;
        droppedSinceLog++;
        return;
      }
      queue.push(e);
      if (!running) void run();
    },
    idle: () => (running || queue.length > 0 ? new Promise<void>((resolve) => waiters.push(resolve)) : Promise.resolve()),
    stats: () => ({ ...counts, queued: queue.length }),
    close() {
      closed = true;
      queue.length = 0;
    },
  };
}
