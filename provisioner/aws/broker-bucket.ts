// The workspace's bucket (private: public access blocked, tagged) and the broker bundle in it, content-addressed
// (broker/<sha256>.tgz) with its SHA-256 in the object's metadata; uploaded only when that object is missing.
import { SkiffError } from '../../broker/api/errors.js';
import { bundleKey, type BrokerNames } from '../plan/broker-plan.js';
import type { Tags } from '../plan/tags.js';
import { awsErrorCode } from './aws-port.js';
import type { AwsContext } from './context.js';
import type { BrokerBundle } from './broker-bundle.js';
import type { Outcome } from './broker-outcome.js';

const missing = (err: unknown) => /^(NotFound|NoSuchBucket|NoSuchKey|404)$/.test(awsErrorCode(err) ?? '');

export async function ensureBucket(ctx: AwsContext, n: BrokerNames, region: string, tags: Tags): Promise<Outcome> {
  try {
    await ctx.port.headBucket({ Bucket: n.bucket, ExpectedBucketOwner: n.account });
    return 'exists';
  } catch (err) {
    if (/^(Forbidden|403|AccessDenied)$/.test(awsErrorCode(err) ?? '')) {
      throw new SkiffError('PRV_INVALID_REQUEST', `S3 bucket ${n.bucket} exists but is not this account's (or these credentials may not list it); skiff names its bucket after the account, so check the credentials`);
    }
    if (!missing(err)) throw err;
  }
  await ctx.port.createBucket({ Bucket: n.bucket, ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }) });
  await ctx.port.putPublicAccessBlock({
    Bucket: n.bucket,
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
  });
  await ctx.port.putBucketTagging({ Bucket: n.bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } });
  ctx.progress(`created S3 bucket ${n.bucket}`);
  return 'created';
}

export async function ensureBundle(ctx: AwsContext, n: BrokerNames, bundle: BrokerBundle): Promise<{ key: string; outcome: Outcome }> {
  const key = bundleKey(bundle.sha256);
  try {
    const head = await ctx.port.headObject({ Bucket: n.bucket, Key: key });
    if (head.Metadata?.['sha256'] === bundle.sha256 && head.ContentLength === bundle.bytes.length) return { key, outcome: 'exists' };
  } catch (err) {
    if (!missing(err)) throw err;
  }
  await ctx.port.putObject({
    Bucket: n.bucket, Key: key, Body: bundle.bytes, ContentType: 'application/gzip',
    ChecksumSHA256: Buffer.from(bundle.sha256, 'hex').toString('base64'),
    Metadata: { sha256: bundle.sha256, version: bundle.version },
  });
  ctx.progress(`uploaded the broker bundle (${(bundle.bytes.length / 1e6).toFixed(1)} MB, sha256 ${bundle.sha256.slice(0, 12)}…) to s3://${n.bucket}/${key}`);
  return { key, outcome: 'created' };
}

/** Empties (every version-less object; skiff's bucket has no versioning) and removes the bucket. Idempotent. */
export async function deleteBucket(ctx: AwsContext, n: BrokerNames): Promise<boolean> {
  try {
    await ctx.port.headBucket({ Bucket: n.bucket, ExpectedBucketOwner: n.account });
  } catch (err) {
    if (missing(err)) return false;
    throw err;
  }
  for (let page = 0; page < 100; page++) {
    const out = await ctx.port.listObjectsV2({ Bucket: n.bucket, MaxKeys: 1000 });
    const keys = (out.Contents ?? []).map((o) => o.Key ?? '').filter(Boolean);
    if (keys.length === 0) break;
    for (const k of keys) await ctx.port.deleteObject({ Bucket: n.bucket, Key: k });
  }
  await ctx.port.deleteBucket({ Bucket: n.bucket });
  return true;
}
