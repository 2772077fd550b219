// `skiff broker --deployed --workspace W --region R`: the broker as it runs on the workspace's broker instance.
//
//   SSM /skiff/W/broker ──▶ url, caPem, brokerId, table, kmsKeyId
//   Secrets Manager skiff/W/broker-ca ──▶ broker CA (must be the published one)
//   IMDSv2 ──▶ public + private IPv4 ──▶ server certificate from the broker CA (key in memory only)
//   KMS (kmsKeyId) ──▶ token signing key and cluster CA keys, sealed in the store
//   DynamoDB (table) ──▶ the store: clusters, enrolments, certificates, notifications, grants, sealed keys
//   people sign in as their IAM identity (brokerId in every signature); the grants `skiff setup aws` stored decide who
//   ──▶ startBroker on 0.0.0.0:443 with TLS, the published URL for the machines, request logs
//
// Everything is read and checked before the broker listens: a wrong record is one error and nothing served.
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SkiffError } from '../api/errors.js';
import { createImdsClient, type ImdsClient } from '../api/imds.js';
import {
  brokerCaSecretName, brokerParameterName, parseBrokerCaSecret, parseDeployedBrokerParameter, type BrokerCaSecret, type DeployedBrokerParameter,
} from '../api/deployed-broker.js';
import { startBroker, type BrokerOptions, type RunningBroker } from '../broker.js';
import { openSealedCaStore } from '../clusters/sealed-ca-store.js';
import { skiffPaths } from '../home.js';
import { ACTIVE_STATES, type ClusterRecord } from '../store/store.js';
import { openDynamoStore } from '../store/dynamo-store.js';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { brokerAddresses } from './addresses.js';
import { createKmsSealer } from './kms-sealer.js';
import { sealedBlobsOf } from './sealed-files.js';
import { loadOrCreateSealedTokenKey } from './sealed-token-key.js';
import { issueServerCertificate } from './server-cert.js';
import type { Sealer } from './sealing.js';

export const DEPLOYED_PORT = 443;

export interface DeployedOptions {
  workspace: string;
  region: string;
  /** Default 0.0.0.0 and 443 (the security group opens 443); tests listen on 127.0.0.1. */
  host?: string;
  port?: number;
  /** SKIFF_IMDS_URL (a stand-in in tests); default IMDS itself unless `metadataDisabled`. */
  imdsUrl?: string;
  /** AWS_EC2_METADATA_DISABLED=true: off EC2, the certificate names the published URL's host only. */
  metadataDisabled?: boolean;
  /** Per AWS call (default 10 s). */
  awsTimeoutMs?: number;
  /** Everything else the broker takes (home, python, log, version, intervals, emulator settings). */
  broker: Omit<BrokerOptions, 'host' | 'port' | 'publicUrl' | 'tls' | 'store' | 'caStore' | 'tokenPrivateJwk' | 'logRequests' | 'auth'>;
  /** Where sign-ins are checked: an emulator's STS in tests (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL); default STS of the region. */
  sts?: { stsEndpointUrl?: string; endpointUrl?: string };
}

/** The AWS clients deployed mode uses; tests may pass their own. */
export interface DeployedAws {
  ssm: Pick<SSMClient, 'send'>;
  secrets: Pick<SecretsManagerClient, 'send'>;
  kms: Pick<KMSClient, 'send'>;
  dynamo: DynamoDBClient;
  imds?: ImdsClient;
}

export function defaultDeployedAws(o: DeployedOptions): DeployedAws {
  const cfg = { region: o.region, maxAttempts: 3 };
  const imdsUrl = o.imdsUrl ?? (o.metadataDisabled ? undefined : 'http://169.254.169.254');
  return {
    ssm: new SSMClient(cfg), secrets: new SecretsManagerClient(cfg), kms: new KMSClient(cfg), dynamo: new DynamoDBClient(cfg),
    ...(imdsUrl !== undefined ? { imds: createImdsClient({ baseUrl: imdsUrl, timeoutMs: 2000, code: 'BRK_CONFIG' }) } : {}),
  };
}

function awsError(what: string, err: unknown, hint: string): SkiffError {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const retryable = (e.$metadata?.httpStatusCode ?? 0) >= 500 || e.name === 'TimeoutError' || e.name === 'AbortError';
  return new SkiffError('BRK_CONFIG', `${what}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}; ${hint}`, { cause: err, retryable });
}

export async function readPublishedBroker(ssm: DeployedAws['ssm'], workspace: string, region: string, timeoutMs = 10_000): Promise<DeployedBrokerParameter> {
  const name = brokerParameterName(workspace);
  let value: string | undefined;
  try {
    value = (await ssm.send(new GetParameterCommand({ Name: name }), { abortSignal: AbortSignal.timeout(timeoutMs) })).Parameter?.Value;
  } catch (err) {
    throw awsError(`reading SSM parameter ${name} in ${region}`, err, `\`skiff setup aws --workspace ${workspace} --region ${region}\` publishes it`);
  }
  const p = parseDeployedBrokerParameter(value ?? '', `SSM parameter ${name} (${region})`, 'BRK_CONFIG');
  if (p.region !== region) throw new SkiffError('BRK_CONFIG', `SSM parameter ${name} is for region ${p.region}, but this broker runs with --region ${region}`);
  return p;
}

export async function readBrokerCa(secrets: DeployedAws['secrets'], p: DeployedBrokerParameter, workspace: string, timeoutMs = 10_000): Promise<BrokerCaSecret> {
  const id = brokerCaSecretName(workspace);
  let text: string | undefined;
  try {
    text = (await secrets.send(new GetSecretValueCommand({ SecretId: id }), { abortSignal: AbortSignal.timeout(timeoutMs) })).SecretString;
  } catch (err) {
    throw awsError(`reading secret ${id}`, err, 'the broker\'s role must be allowed secretsmanager:GetSecretValue on it and kms:Decrypt on the workspace key (`skiff setup aws` sets both)');
  }
  const ca = parseBrokerCaSecret(text ?? '', `secret ${id}`, 'BRK_CONFIG');
  // The CLI pins the published certificate: a broker serving from another CA would be refused by every client.
  if (!new X509Certificate(ca.certPem).publicKey.equals(new X509Certificate(p.caPem).publicKey)) {
    throw new SkiffError('BRK_CONFIG', `the broker CA in secret ${id} is not the one published in ${brokerParameterName(workspace)}; re-run \`skiff setup aws\` so both hold the same CA`);
  }
  return ca;
}

/** Reads and checks everything, then gives startBroker's options: nothing listens yet. */
export async function prepareDeployedBroker(o: DeployedOptions, aws: DeployedAws = defaultDeployedAws(o)): Promise<BrokerOptions> {
  const log = o.broker.log.child({ component: 'deployed' });
  const timeoutMs = o.awsTimeoutMs ?? 10_000;
  const published = await readPublishedBroker(aws.ssm, o.workspace, o.region, timeoutMs);
  const ca = await readBrokerCa(aws.secrets, published, o.workspace, timeoutMs);
  const hosts = await brokerAddresses({ url: published.url, ...(aws.imds ? { imds: aws.imds } : {}), log });
  const cert = await issueServerCertificate({ ca, hosts });
  log.info({ url: published.url, hosts, notAfter: cert.notAfter.toISOString(), brokerId: published.brokerId }, 'server certificate issued from the broker CA');

  const sealer: Sealer = createKmsSealer({ kms: aws.kms, keyId: published.kmsKeyId, timeoutMs });
  // The workspace's table: what a replacement broker (setup aws again, --upgrade) finds as this one left it.
  const store = openDynamoStore({ table: published.table, client: aws.dynamo, requestTimeoutMs: timeoutMs });
  const blobs = sealedBlobsOf(store, join(skiffPaths(o.broker.home).brokerDir, 'sealed'));
  try {
    const token = await loadOrCreateSealedTokenKey({ blobs, sealer, workspace: o.workspace });
    if (token.created) log.info({}, 'token signing key made and sealed with the workspace key');
    const clusters: ClusterRecord[] = await Promise.resolve(store.clusters());
    const caStore = await openSealedCaStore({
      blobs, sealer, workspace: o.workspace, now: () => new Date(), log: log.child({ component: 'ca-store' }),
      activeClusterIds: clusters.filter((c) => ACTIVE_STATES.includes(c.state)).map((c) => c.id),
    });
    return {
      ...o.broker,
      host: o.host ?? '0.0.0.0',
      port: o.port ?? DEPLOYED_PORT,
      publicUrl: published.url,
      tls: { certPem: cert.certPem, keyPem: cert.keyPem, caPem: published.caPem },
      store,
      sharedStore: true,
      caStore,
      tokenPrivateJwk: token.privateJwk,
      logRequests: true,
      auth: {
        mode: 'aws-iam', brokerId: published.brokerId, stsRegion: o.region,
        ...(o.sts?.stsEndpointUrl ? { stsEndpointUrl: o.sts.stsEndpointUrl } : {}), ...(o.sts?.endpointUrl ? { endpointUrl: o.sts.endpointUrl } : {}),
      },
    };
  } catch (err) {
    await Promise.resolve(store.close());
    throw err;
  }
}

export async function startDeployedBroker(o: DeployedOptions, aws?: DeployedAws): Promise<RunningBroker> {
  return startBroker(await prepareDeployedBroker(o, aws));
}

export type { Logger };
