// What every `skiff` command shares: its context (home, environment, output), the shape of a command,
// common flags, and the way to reach the broker.
import type { FlagSpec } from './args.js';
import { connectBroker, type BrokerApi } from './connect.js';

export interface CliContext {
  home: string;
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface Command {
  synopsis: string;
  about: string;
  flags: Record<string, FlagSpec>;
  run(ctx: CliContext, positionals: string[], flags: Record<string, unknown>): Promise<number>;
}

export const JSON_FLAG: FlagSpec = { kind: 'boolean', help: 'print JSON instead of text' };
export const BROKER_FLAG: FlagSpec = { kind: 'string', help: 'URL of a remote broker (else the local one of $SKIFF_HOME)' };

export async function api(ctx: CliContext, flags: Record<string, unknown>, autoStart: boolean): Promise<BrokerApi> {
  const brokerUrl = (flags['broker-url'] as string | undefined) ?? ctx.env['SKIFF_BROKER_URL'];
  const apiKey = ctx.env['SKIFF_API_KEY'];
  return connectBroker({
    home: ctx.home,
    autoStart,
    progress: (m) => ctx.err(`skiff: ${m}\n`),
    ...(brokerUrl ? { brokerUrl } : {}),
    ...(apiKey ? { apiKey } : {}),
  });
}

