// What every `skiff` command shares: its context (home, environment, output), the shape of a command,
// common flags, and the way to reach the broker.
import type { FlagSpec } from './args.js';
import { connectBroker, type BrokerApi } from './connect.js';
import type { Logger } from 'pino';
import type { CliConfig } from './config.js';
import { SkiffError } from '../api/errors.js';
import { DEFAULT_WORKSPACE, WORKSPACE_NAME, WORKSPACE_NAME_RULE } from '../api/limits.js';
import { DEFAULT_REGION } from '../../provisioner/backend.js';

export interface CliContext {
  home: string;
  /** Settings from the environment, read once (config.ts). */
  config: Readonly<CliConfig>;
  /** The process's one root logger (stderr for commands; stdout for `skiff broker`, the control plane's log). */
  log: Logger;
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
export const WORKSPACE_FLAG: FlagSpec = {
  kind: 'string',
  help: 'workspace: clusters sharing a log group (/skiff/NAME) and, on aws, a network and the permissions boundary of its clusters\' agent roles',
  default: DEFAULT_WORKSPACE,
};

/** The --workspace flag's value, checked against the contract's rule (the broker checks it again). */
export function workspaceFlag(flags: Record<string, unknown>): string {
  const ws = (flags['workspace'] as string | undefined) ?? DEFAULT_WORKSPACE;
  if (!WORKSPACE_NAME.test(ws)) throw new SkiffError('CLI_USAGE', `--workspace "${ws}" is not valid: use ${WORKSPACE_NAME_RULE}`);
  return ws;
}

/** `withoutEnv`: variables a broker this command starts must not inherit (the values of --secret-env). */
export async function api(ctx: CliContext, flags: Record<string, unknown>, autoStart: boolean, withoutEnv: readonly string[] = []): Promise<BrokerApi> {
  const brokerUrl = (flags['broker-url'] as string | undefined) ?? ctx.config.brokerUrl;
  const apiKey = ctx.config.apiKey;
  // `up --backend aws` looks for its workspace's deployed broker; `up` on this machine uses the local one.
  const backend = flags['backend'] as string | undefined;
  const region = (flags['region'] as string | undefined) ?? ctx.config.awsRegion ?? DEFAULT_REGION;
  return connectBroker({
    home: ctx.home,
    autoStart,
    withoutEnv,
    progress: (m) => ctx.err(`skiff: ${m}\n`),
    aws: {
      credentialSource: ctx.config.awsCredentialSource,
      ...(ctx.config.awsStsEndpointUrl ? { stsEndpointUrl: ctx.config.awsStsEndpointUrl } : {}),
      ...(ctx.config.awsEndpointUrl ? { endpointUrl: ctx.config.awsEndpointUrl } : {}),
    },
    ...(brokerUrl ? { brokerUrl } : {}),
    ...(apiKey ? { apiKey } : {}),
    ...(backend === 'aws' ? { deployed: { workspace: workspaceFlag(flags), region } } : backend !== undefined ? { localOnly: true } : {}),
  });
}

