// The workspace key (KMS), the broker CA (Secrets Manager, encrypted with that key) and the broker's record (SSM):
// each found first and made only when missing. The CA is made once: a rerun keeps it, so the CLI's pin and every
// machine's stay valid.
import { SkiffError } from '../../broker/api/errors.js';
import { parseBrokerCaSecret, parseDeployedBrokerParameter, type DeployedBrokerParameter } from '../../broker/api/deployed-broker.js';
import type { BrokerNames } from '../plan/broker-plan.js';
import type { Tags } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';
import type { Outcome } from './broker-outcome.js';

const notFound = (err: unknown) => /NotFound/.test(awsErrorCode(err) ?? '');

export async function ensureWorkspaceKey(ctx: AwsContext, n: BrokerNames, tags: Tags): Promise<{ keyId: string; arn: string; outcome: Outcome }> {
  try {
    const k = (await ctx.port.describeKey({ KeyId: n.kmsAlias })).KeyMetadata;
    if (k?.KeyState === 'PendingDeletion') {
      throw new SkiffError('PRV_INVALID_REQUEST', `KMS key ${k.KeyId ?? ''} (${n.kmsAlias}) is scheduled for deletion; cancel it (aws kms cancel-key-deletion) or delete the alias, then run skiff setup aws again`);
    }
    return { keyId: k?.KeyId ?? '', arn: k?.Arn ?? '', outcome: 'exists' };
  } catch (err) {
    if (!notFound(err)) throw err;
  }
  const k = (await ctx.port.createKey({
    Description: `skiff workspace ${n.workspace}: seals the broker CA, cluster CA keys and the token signing key`,
    Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
  })).KeyMetadata;
  if (!k?.KeyId || !k.Arn) throw new SkiffError('PRV_CLOUD_ERROR', 'KMS returned no id for the new workspace key');
  await ctx.port.createAlias({ AliasName: n.kmsAlias, TargetKeyId: k.KeyId });
  ctx.progress(`created KMS key ${k.KeyId} (${n.kmsAlias})`);
  return { keyId: k.KeyId, arn: k.Arn, outcome: 'created' };
}

/** The broker CA's certificate (public), making the CA when the secret does not exist. */
export async function ensureBrokerCa(
  ctx: AwsContext, n: BrokerNames, tags: Tags, published: DeployedBrokerParameter | undefined, createCa: () => Promise<{ certPem: string; keyPem: string }>,
): Promise<{ caPem: string; outcome: Outcome }> {
  let exists = false;
  try {
    const s = await ctx.port.describeSecret({ SecretId: n.caSecret });
    if (s.DeletedDate) {
      throw new SkiffError('PRV_INVALID_REQUEST', `secret ${n.caSecret} is scheduled for deletion; restore it (aws secretsmanager restore-secret) or wait until it is gone, then run skiff setup aws again`);
    }
    exists = true;
  } catch (err) {
    if (!notFound(err)) throw err;
  }
  if (exists) {
    if (published) return { caPem: published.caPem, outcome: 'exists' };
    // A run that stopped after the CA and before the record: read the certificate back.
    const text = (await ctx.port.getSecretValue({ SecretId: n.caSecret })).SecretString ?? '';
    return { caPem: parseBrokerCaSecret(text, `secret ${n.caSecret}`, 'PRV_CLOUD_ERROR').certPem, outcome: 'exists' };
  }
  const ca = await createCa();
  await ctx.port.createSecret({
    Name: n.caSecret, KmsKeyId: n.kmsAlias, Description: `skiff broker CA of workspace ${n.workspace}: for the broker's role only`,
    SecretString: JSON.stringify({ certPem: ca.certPem, keyPem: ca.keyPem }),
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  });
  ctx.progress(`created the broker CA in secret ${n.caSecret}`);
  return { caPem: ca.certPem, outcome: 'created' };
}

export interface PublishedRecord {
  text: string;
  /** Undefined when the text is not a record skiff can read (setup rewrites it). */
  record?: DeployedBrokerParameter;
}

/** The record as it is now, or undefined when none is published. */
export async function readRecord(ctx: AwsContext, n: BrokerNames): Promise<PublishedRecord | undefined> {
  let text: string;
  try {
    text = (await ctx.port.getParameter({ Name: n.parameter })).Parameter?.Value ?? '';
  } catch (err) {
    if (/ParameterNotFound/.test(awsErrorCode(err) ?? '')) return undefined;
    throw err;
  }
  try {
    return { text, record: parseDeployedBrokerParameter(text, n.parameter, 'PRV_CLOUD_ERROR') };
  } catch {
    return { text };
  }
}

export async function publishRecord(ctx: AwsContext, n: BrokerNames, tags: Tags, record: DeployedBrokerParameter, current: PublishedRecord | undefined): Promise<Outcome> {
  const value = JSON.stringify(record);
  if (current?.text === value) return 'exists';
  if (current) {
    await ctx.port.putParameter({ Name: n.parameter, Type: 'String', Value: value, Overwrite: true });
    return 'updated';
  }
  await ctx.port.putParameter({
    Name: n.parameter, Type: 'String', Value: value, Description: `skiff broker of workspace ${n.workspace}: URL and CA`,
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  });
  return 'created';
}
