// The broker's check of an enrolling machine's instance identity document: a document AWS (here the
// simulator's test key, in AWS's documented format) signed for exactly this instance passes; a missing, forged,
// altered or borrowed one is refused with the reason, and AWS's own certificates refuse the test key's signature.
import t from 'tap';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createIdentitySigner } from '../../../sim/identity.js';
import type { SimInstance } from '../../../sim/ec2-view.js';
import { identityCertFor, verifyInstanceIdentity, type IdentityExpectation } from '../../../../provisioner/aws/instance-identity.js';
import { IDENTITY_RSA_CERTS } from '../../../../provisioner/aws/identity-certs.js';
import { SUPPORTED_REGIONS } from '../../../../provisioner/plan/regions.js';
import { X509Certificate } from 'node:crypto';

const launched = new Date('2026-12-02T04:10:07Z');
const signer = createIdentitySigner({ now: () => launched });
const inst = (over: Partial<SimInstance> = {}): SimInstance => ({
  instanceId: 'i-0123456789abcdef0', state: 'running', tags: {}, privateIp: '10.0.1.5', groups: [], imageId: 'ami-12345678', instanceType: 'm6i.large',
  architecture: 'x86_64', availabilityZone: 'us-east-1a', launchTime: launched, accountId: '123456789012', reservationId: 'r-1', amiLaunchIndex: 0, lifecycle: 'on-demand',
  ...over,
});
const expect = (over: Partial<IdentityExpectation> = {}): IdentityExpectation => ({
  instanceId: 'i-0123456789abcdef0', region: 'us-east-1', accountId: '123456789012', launchTime: new Date(launched.getTime() + 412),
  launchedAfter: new Date('2026-12-02T04:09:58Z'), now: new Date('2026-12-02T04:11:00Z'), ...over,
});
const signed = (i: SimInstance, region = 'us-east-1') => {
  const document = signer.document(i, region);
  return { document, signature: signer.signature(document) };
};
const refused = (why: RegExp) => ({ code: 'PRV_NOT_ATTESTED', message: why });

t.test('a document signed for this instance, in this account and region, launched with the cluster, passes', async (t) => {
  const doc = verifyInstanceIdentity(signed(inst()), expect(), signer.certPem);
  t.match(doc, { instanceId: 'i-0123456789abcdef0', accountId: '123456789012', region: 'us-east-1', pendingTime: '2026-12-02T04:10:07Z' });
});

t.test('no document, or an empty one, is refused', async (t) => {
  t.throws(() => verifyInstanceIdentity(undefined, expect(), signer.certPem), refused(/sent no instance identity document/));
  t.throws(() => verifyInstanceIdentity({ document: '', signature: '' }, expect(), signer.certPem), refused(/must both be given/));
  t.throws(() => verifyInstanceIdentity({ document: signed(inst()).document, signature: 'not base64!' }, expect(), signer.certPem), refused(/not base64/));
});

t.test('a forged signature, an altered document or a signature of another document is refused', async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const good = signed(inst());
  t.throws(() => verifyInstanceIdentity({ document: good.document, signature: createSign('sha256').update(good.document).sign(privateKey, 'base64') }, expect(), signer.certPem),
    refused(/signature does not verify with the configured test certificate/), 'signed with a key of the forger');
  t.throws(() => verifyInstanceIdentity({ document: good.document.replace('123456789012', '999999999999'), signature: good.signature }, expect(), signer.certPem),
    refused(/signature does not verify/), 'one field changed');
  const other = signed(inst({ instanceId: 'i-0fedcba9876543210' }));
  t.throws(() => verifyInstanceIdentity({ document: good.document, signature: other.signature }, expect(), signer.certPem), refused(/signature does not verify/), 'another document\'s signature');
});

t.test('AWS\'s regional certificates do not verify the test key: a test certificate is trusted only when configured', async (t) => {
  t.throws(() => verifyInstanceIdentity(signed(inst()), expect()), refused(/does not verify with AWS's certificate for us-east-1/));
  t.throws(() => identityCertFor('xx-nowhere-1'), refused(/no AWS certificate is known for region "xx-nowhere-1"/));
  for (const region of SUPPORTED_REGIONS) {
    const cert = new X509Certificate(IDENTITY_RSA_CERTS[region]);
    t.equal(cert.publicKey.asymmetricKeyType, 'rsa', `${region}: an RSA certificate`);
  }
});

t.test('a genuine document of another instance, account, region or time is refused', async (t) => {
  t.throws(() => verifyInstanceIdentity(signed(inst({ instanceId: 'i-0fedcba9876543210' })), expect(), signer.certPem), refused(/of instance "i-0fedcba9876543210", not i-0123456789abcdef0/));
  t.throws(() => verifyInstanceIdentity(signed(inst({ accountId: '210987654321' })), expect(), signer.certPem), refused(/of account "210987654321", not the instance's owner/));
  t.throws(() => verifyInstanceIdentity(signed(inst({ availabilityZone: 'eu-west-1a' }), 'eu-west-1'), expect(), signer.certPem), refused(/of region "eu-west-1", the cluster runs in us-east-1/));
  t.throws(() => verifyInstanceIdentity(signed(inst()), expect({ launchTime: new Date('2026-12-02T03:00:00Z') }), signer.certPem), refused(/is not the instance's launch time/), 'the instance was relaunched since');
  const early = new Date('2026-12-01T22:00:00Z');
  t.throws(() => verifyInstanceIdentity(signed(inst({ launchTime: early })), expect({ launchTime: early }), signer.certPem), refused(/outside the cluster's launch window/), 'launched before the cluster existed');
});
