// Proof that an enrolling machine is the EC2 instance it names, as Vault's AWS auth method (ec2 type) checks it:
// the instance identity document with AWS's signature, verified against AWS's certificate for the document's
// Region (identity-certs.ts), then its fields against what EC2 says of the instance:
//
//   signature ok? ─▶ region = the cluster's ─▶ instanceId = the one claimed ─▶ accountId = the instance's owner
//                ─▶ pendingTime = its LaunchTime, inside the cluster's launch window (from its creation to now)
//
// That the instance is one skiff launched (its id on the cluster's record), its tags (the cluster's, its
// workspace's, owner=skiff, and EC2's own launch template and fleet tags) and its state are checked by attest()
// from DescribeInstances. Against an AWS emulator the tests' machine simulator signs documents with a test key: the
// broker then trusts that one certificate instead (SKIFF_AWS_IDENTITY_CERT), never AWS's and the test's together.
import { createVerify, X509Certificate } from 'node:crypto';
import { SkiffError } from '../../broker/api/errors.js';
import type { InstanceIdentity } from '../../broker/api/wire.js';
import { isSupportedRegion } from '../plan/regions.js';
import { IDENTITY_RSA_CERTS } from './identity-certs.js';

/** A document is about 500 bytes; a 2048-bit signature 344 base64 characters. */
const MAX_DOCUMENT_BYTES = 4096;
const MAX_SIGNATURE_CHARS = 1024;
/** Clock difference allowed between EC2, the machine and the broker. */
const SKEW_MS = 5 * 60_000;
/** pendingTime is written in whole seconds; LaunchTime may carry milliseconds. */
const LAUNCH_MATCH_MS = 60_000;

export interface IdentityDocument {
  instanceId: string;
  accountId: string;
  region: string;
  pendingTime: string;
  [field: string]: unknown;
}

export interface IdentityExpectation {
  instanceId: string;
  region: string;
  /** The instance's owner account (DescribeInstances' reservation OwnerId). */
  accountId: string | undefined;
  /** The instance's LaunchTime as EC2 reports it. */
  launchTime: Date | undefined;
  /** The start of the cluster's launch window (its creation). */
  launchedAfter: Date;
  now: Date;
}

const refuse = (why: string): SkiffError => new SkiffError('PRV_NOT_ATTESTED', `instance identity refused: ${why}`);

/** The certificate that verifies documents of `region`: the test certificate when one is given, else AWS's. */
export function identityCertFor(region: string, testCertPem?: string): string {
  if (testCertPem !== undefined) return testCertPem;
  if (!isSupportedRegion(region)) throw refuse(`no AWS certificate is known for region ${JSON.stringify(region.slice(0, 40))}`);
  return IDENTITY_RSA_CERTS[region];
}

/** Verifies the signature, then every field; gives the document back, or throws PRV_NOT_ATTESTED saying why. */
export function verifyInstanceIdentity(identity: InstanceIdentity | undefined, expect: IdentityExpectation, testCertPem?: string): IdentityDocument {
  if (identity === undefined || typeof identity !== 'object') throw refuse('the machine sent no instance identity document; an AWS machine must send its signed document (IMDSv2 dynamic/instance-identity)');
  const { document, signature } = identity;
  if (typeof document !== 'string' || typeof signature !== 'string' || document.length === 0 || signature.length === 0) throw refuse('document and signature must both be given as text');
  if (Buffer.byteLength(document) > MAX_DOCUMENT_BYTES || signature.length > MAX_SIGNATURE_CHARS) throw refuse('document or signature is too large to be AWS\'s');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) throw refuse('the signature is not base64');
  const key = new X509Certificate(identityCertFor(expect.region, testCertPem)).publicKey;
  const signed = createVerify('RSA-SHA256').update(document, 'utf8').verify(key, Buffer.from(signature, 'base64'));
  if (!signed) throw refuse(`the signature does not verify with ${testCertPem !== undefined ? 'the configured test certificate' : `AWS's certificate for ${expect.region}`}`);

  let doc: IdentityDocument;
  try {
    doc = JSON.parse(document) as IdentityDocument;
  } catch {
    throw refuse('the document is not JSON');
  }
  if (doc === null || typeof doc !== 'object') throw refuse('the document is not a JSON object');
  for (const f of ['instanceId', 'accountId', 'region', 'pendingTime'] as const) {
    if (typeof doc[f] !== 'string') throw refuse(`the document has no ${f}`);
  }
  const show = (v: string) => JSON.stringify(v.slice(0, 64));
  if (doc.region !== expect.region) throw refuse(`the document is of region ${show(doc.region)}, the cluster runs in ${expect.region}`);
  if (doc.instanceId !== expect.instanceId) throw refuse(`the document is of instance ${show(doc.instanceId)}, not ${expect.instanceId}`);
  if (expect.accountId === undefined || doc.accountId !== expect.accountId) throw refuse(`the document is of account ${show(doc.accountId)}, not the instance's owner`);
  const pendingMs = Date.parse(doc.pendingTime);
  if (!Number.isFinite(pendingMs)) throw refuse(`pendingTime ${show(doc.pendingTime)} is not a time`);
  if (expect.launchTime === undefined || Math.abs(pendingMs - expect.launchTime.getTime()) > LAUNCH_MATCH_MS) {
    throw refuse(`pendingTime ${doc.pendingTime} is not the instance's launch time ${expect.launchTime?.toISOString() ?? '(unknown)'}`);
  }
  if (pendingMs < expect.launchedAfter.getTime() - SKEW_MS || pendingMs > expect.now.getTime() + SKEW_MS) {
    throw refuse(`pendingTime ${doc.pendingTime} is outside the cluster's launch window (from ${expect.launchedAfter.toISOString()} to now)`);
  }
  return doc;
}
