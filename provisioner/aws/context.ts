// What every aws step needs: the port, a logger, the clock and sleep (injected so tests never wait), a
// per-run nonce for idempotency tokens, and helpers for tag filters and tag specifications.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Tag, Filter, TagSpecification, ResourceType } from '@aws-sdk/client-ec2';
import { SkiffError } from '../../broker/api/errors.js';
import type { Tags } from '../plan/tags.js';
import type { AwsPort } from './aws-port.js';

export interface AwsContext {
  port: AwsPort;
  /** The port of another region (to ask an always-enabled region about this one); absent in some tests. */
  portIn?: (region: string) => AwsPort;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** Random per apply run; idempotency tokens derive from it so the SDK's own retries cannot duplicate. */
  nonce: string;
  progress: (message: string) => void;
  /** A fact the user must be told (ApplyHooks.notice); it goes to progress too. */
  notice: (message: string) => void;
  /** How long to wait for NAT gateways / terminations. */
  waitTimeoutMs: number;
  pollIntervalMs: number;
  /** Called with the ids RunInstances or CreateFleet returned, before anything else happens (ApplyHooks.launched). */
  launched: (ids: readonly string[], role: 'scheduler' | 'worker') => Promise<void>;
}

/** An EC2 ClientToken (≤ 64 ASCII chars) for one create in this run. */
export function clientToken(ctx: AwsContext, purpose: string): string {
  return createHash('sha256').update(`${ctx.nonce}\0${purpose}`).digest('hex').slice(0, 48);
}

export function tagFilters(tags: Tags): Filter[] {
  return Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));
}

export function tagSpec(type: ResourceType, tags: Tags): TagSpecification[] {
  return [{ ResourceType: type, Tags: toAwsTags(tags) }];
}

export function toAwsTags(tags: Tags): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function fromAwsTags(tags: Tag[] | undefined): Tags {
  const out: Tags = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

/** Polls `check` until it returns a value, at most `ctx.waitTimeoutMs`. */
export async function waitUntil<T>(ctx: AwsContext, what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = ctx.now() + ctx.waitTimeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (ctx.now() >= deadline) {
      throw new SkiffError('PRV_CLOUD_ERROR', `timed out after ${ctx.waitTimeoutMs} ms waiting for ${what}; run the command again to resume`, { retryable: true });
    }
    await ctx.sleep(ctx.pollIntervalMs);
  }
}

export function requireId(id: string | undefined, what: string): string {
  if (!id) throw new SkiffError('PRV_CLOUD_ERROR', `AWS returned no id for the new ${what}`);
  return id;
}
