// The CLI's settings from the environment, read once at start, checked and frozen: commands get them from
// their context and never read process.env themselves. A bad value is a usage error naming the variable.
import { createHash } from 'node:crypto';
import { SkiffError } from '../api/errors.js';
import { defaultHome } from '../home.js';

export interface CliConfig {
  /** $SKIFF_HOME, default ~/.skiff. */
  home: string;
  /** $SKIFF_BROKER_URL: a remote broker (else the local one of the home). */
  brokerUrl?: string;
  /** $SKIFF_API_KEY: the remote broker's API key. */
  apiKey?: string;
  /** $SKIFF_PYTHON: the Python with Dask that local machines run (default /usr/bin/python3). */
  python: string;
  /** $SKIFF_LOG_LEVEL for the CLI's own log on stderr (default warn). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** $SKIFF_WEBHOOK_URL: the broker's default webhook. */
  webhookUrl?: string;
  /** $SKIFF_WATCHDOG_INTERVAL_MS: how often the broker's watchdog checks (tests shorten it). */
  watchdogIntervalMs?: number;
  /** $SKIFF_LEADER_LEASE_MS: the leader lease's lifetime for brokers sharing a store (default 15 s; tests shorten it). */
  leaseTtlMs?: number;
  /** $SKIFF_SCALE_INTERVAL_MS: how often the broker reconciles running clusters' worker counts (tests shorten it). */
  scaleIntervalMs?: number;
  /** $AWS_ENDPOINT_URL: an AWS emulator (the tests' moto). */
  awsEndpointUrl?: string;
  /** $AWS_ENDPOINT_URL_STS: STS alone at an emulator (wins over AWS_ENDPOINT_URL for STS, as in the SDK). */
  awsStsEndpointUrl?: string;
  /** $SKIFF_AWS_IDENTITY_CERT: tests only, with an emulator; the PEM whose key signs simulated identity documents. */
  awsIdentityCert?: string;
  /** $AWS_REGION */
  awsRegion?: string;
  /** $PATH: where `skiff up` looks for the client's python3 (the first that imports distributed). */
  path: string;
  /** $SKIFF_CREDENTIALS_REFRESH_MS: how often `skiff credentials --forward` re-sends (tests; default half the credentials' life). */
  credentialsRefreshMs?: number;
  /**
   * $SKIFF_PIP_INDEX_URL / $SKIFF_PIP_EXTRA_INDEX_URL: the machines' package indexes when --pip-index-url /
   * --pip-extra-index-url are not given, so a URL with credentials need not be on `skiff up`'s command line (which
   * every local user can read). A requirements file's --index-url works too.
   */
  pipIndexUrl?: string;
  pipExtraIndexUrl?: string;
  /**
   * Which AWS credentials the SDK's chain would pick (a digest of the variables that choose it: AWS_PROFILE,
   * AWS_ACCESS_KEY_ID, the config files, web identity, container credentials): the CLI keeps one aws-iam sign-in per source.
   */
  awsCredentialSource: string;
  /** $SKIFF_IMDS_URL: instance metadata for `skiff broker --deployed` (a stand-in in tests; default IMDS itself). */
  imdsUrl?: string;
  /** $AWS_EC2_METADATA_DISABLED=true: no instance metadata is asked for (off EC2). */
  ec2MetadataDisabled: boolean;
  /** A variable of the client's environment, for --secret-env (its value goes to the machines only). */
  lookupEnv: (name: string) => string | undefined;
}

const CREDENTIAL_SOURCE_VARS = [
  'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'HOME',
];

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadCliConfig(env: NodeJS.ProcessEnv): Readonly<CliConfig> {
  const get = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k]);
  const level = get('SKIFF_LOG_LEVEL') ?? 'warn';
  if (!(LEVELS as readonly string[]).includes(level)) throw new SkiffError('CLI_USAGE', `SKIFF_LOG_LEVEL "${level}" is not a level; use one of ${LEVELS.join(', ')}`);
  const interval = get('SKIFF_WATCHDOG_INTERVAL_MS');
  if (interval !== undefined && !/^[1-9]\d{0,8}$/.test(interval)) {
    throw new SkiffError('CLI_USAGE', `SKIFF_WATCHDOG_INTERVAL_MS "${interval}" must be a whole number of milliseconds from 1`);
  }
  const scaleInterval = get('SKIFF_SCALE_INTERVAL_MS');
  if (scaleInterval !== undefined && !/^[1-9]\d{0,8}$/.test(scaleInterval)) {
    throw new SkiffError('CLI_USAGE', `SKIFF_SCALE_INTERVAL_MS "${scaleInterval}" must be a whole number of milliseconds from 1`);
  }
  const refresh = get('SKIFF_CREDENTIALS_REFRESH_MS');
  if (refresh !== undefined && !/^[1-9]\d{2,8}$/.test(refresh)) {
    throw new SkiffError('CLI_USAGE', `SKIFF_CREDENTIALS_REFRESH_MS "${refresh}" must be a whole number of milliseconds from 100`);
  }
  const cfg: CliConfig = {
    home: defaultHome(env), python: get('SKIFF_PYTHON') ?? '/usr/bin/python3', logLevel: level as CliConfig['logLevel'], path: env['PATH'] ?? '',
    lookupEnv: (name) => env[name],
    awsCredentialSource: createHash('sha256').update(JSON.stringify(CREDENTIAL_SOURCE_VARS.map((k) => env[k] ?? null))).digest('hex').slice(0, 16),
    ec2MetadataDisabled: get('AWS_EC2_METADATA_DISABLED')?.toLowerCase() === 'true',
  };
  const imdsUrl = get('SKIFF_IMDS_URL');
  if (imdsUrl !== undefined) {
    if (!/^http:\/\/[^/?#\s]+\/?$/.test(imdsUrl)) throw new SkiffError('CLI_USAGE', `SKIFF_IMDS_URL ${JSON.stringify(imdsUrl)} must be http://HOST[:PORT]; unset it for http://169.254.169.254`);
    cfg.imdsUrl = imdsUrl.replace(/\/+$/, '');
  }
  if (refresh !== undefined) cfg.credentialsRefreshMs = Number(refresh);
  const brokerUrl = get('SKIFF_BROKER_URL');
  if (brokerUrl !== undefined) cfg.brokerUrl = brokerUrl;
  const apiKey = get('SKIFF_API_KEY');
  if (apiKey !== undefined) cfg.apiKey = apiKey;
  const lease = get('SKIFF_LEADER_LEASE_MS');
  if (lease !== undefined && !/^[1-9]\d{2,8}$/.test(lease)) {
    throw new SkiffError('CLI_USAGE', `SKIFF_LEADER_LEASE_MS "${lease}" must be a whole number of milliseconds from 100`);
  }
  if (lease !== undefined) cfg.leaseTtlMs = Number(lease);
  const webhookUrl = get('SKIFF_WEBHOOK_URL');
  if (webhookUrl !== undefined) cfg.webhookUrl = webhookUrl;
  if (interval !== undefined) cfg.watchdogIntervalMs = Number(interval);
  if (scaleInterval !== undefined) cfg.scaleIntervalMs = Number(scaleInterval);
  const endpoint = get('AWS_ENDPOINT_URL');
  if (endpoint !== undefined) cfg.awsEndpointUrl = endpoint;
  const stsEndpoint = get('AWS_ENDPOINT_URL_STS');
  if (stsEndpoint !== undefined) cfg.awsStsEndpointUrl = stsEndpoint;
  const identityCert = get('SKIFF_AWS_IDENTITY_CERT');
  if (identityCert !== undefined) cfg.awsIdentityCert = identityCert;
  const region = get('AWS_REGION');
  if (region !== undefined) cfg.awsRegion = region;
  const pipIndexUrl = get('SKIFF_PIP_INDEX_URL');
  if (pipIndexUrl !== undefined) cfg.pipIndexUrl = pipIndexUrl;
  const pipExtraIndexUrl = get('SKIFF_PIP_EXTRA_INDEX_URL');
  if (pipExtraIndexUrl !== undefined) cfg.pipExtraIndexUrl = pipExtraIndexUrl;
  return Object.freeze(cfg);
}
