// The instance identity document and its three signatures, signed by a test key whose self-signed certificate
// the simulator publishes (sim.identityCertPem), as AWS publishes its regional certificates.
//
// Formats (EC2 User Guide, "Instance identity documents" and "Verify the instance identity document"):
//   document   pretty-printed JSON (Jackson style: `"key" : value`, two-space indent), no trailing newline;
//   signature  base64 of an RSA (PKCS #1 v1.5) signature over the document's SHA-256, one line; verified with
//              `openssl dgst -sha256 -verify key -signature signature document`;
//   pkcs7      PKCS #7 SignedData over the document's SHA-1, content attached, base64 without the PEM armour;
//              verified with `openssl smime -verify -in pkcs7 -inform PEM -certfile certificate -noverify`
//              after adding BEGIN/END PKCS7 lines. AWS signs it with a DSA key; here the test RSA key signs it
//              (openssl verifies either, and node-forge cannot sign with DSA);
//   rsa2048    the same with SHA-256 and the RSA-2048 key.

import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import type { SimInstance } from './ec2-view.js';

export interface IdentitySigner {
  certPem: string;
  document(inst: SimInstance, region: string): string;
  signature(document: string): string;
  pkcs7(document: string): string;
  rsa2048(document: string): string;
}

/** AWS's document writes seconds, no milliseconds: 2016-11-19T16:32:11Z. */
export const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** JSON as IMDS writes its documents (Jackson's pretty printer): `"key" : value`, two-space indent. */
export function jacksonJson(fields: ReadonlyArray<readonly [string, string | null]>): string {
  const body = fields.map(([k, v]) => `  ${JSON.stringify(k)} : ${v === null ? 'null' : JSON.stringify(v)}`).join(',\n');
  return `{\n${body}\n}`;
}

export function createIdentitySigner(opts: { now?: () => Date } = {}): IdentitySigner {
  const now = opts.now ?? (() => new Date());
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(now().getTime() - 60_000);
  cert.validity.notAfter = new Date(now().getTime() + 10 * 365 * 24 * 3600_000);
  // The subject AWS's regional certificates carry, so code that prints it shows something familiar.
  const subject = [
    { name: 'countryName', value: 'US' },
    { name: 'stateOrProvinceName', value: 'Washington State' },
    { name: 'localityName', value: 'Seattle' },
    { name: 'organizationName', value: 'Amazon Web Services LLC (skiff EC2 simulator test key)' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(key, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);

  const oid = (name: string): string => {
    const value = forge.pki.oids[name];
    if (!value) throw new Error(`node-forge knows no OID named ${name}`);
    return value;
  };
  const signed = (document: string, digest: 'sha1' | 'sha256'): string => {
    const p7 = forge.pkcs7.createSignedData();
    p7.content = forge.util.createBuffer(document, 'utf8');
    p7.addSigner({
      key,
      certificate: cert,
      digestAlgorithm: oid(digest),
      authenticatedAttributes: [
        { type: oid('contentType'), value: oid('data') },
        { type: oid('messageDigest') },
        // node-forge fills in the signing time when it signs.
        { type: oid('signingTime') },
      ],
    });
    p7.sign({ detached: false });
    const b64 = forge.util.encode64(forge.asn1.toDer(p7.toAsn1()).getBytes());
    return (b64.match(/.{1,64}/g) ?? []).join('\n');
  };

  return {
    certPem,
    document: (inst, region) =>
      jacksonJson([
        ['accountId', inst.accountId],
        ['architecture', inst.architecture],
        ['availabilityZone', inst.availabilityZone],
        ['billingProducts', null],
        ['devpayProductCodes', null],
        ['marketplaceProductCodes', null],
        ['imageId', inst.imageId],
        ['instanceId', inst.instanceId],
        ['instanceType', inst.instanceType],
        ['kernelId', null],
        ['pendingTime', isoSeconds(inst.launchTime)],
        ['privateIp', inst.privateIp ?? null],
        ['ramdiskId', null],
        ['region', region],
        ['version', '2017-09-30'],
      ]),
    signature: (document) => createSign('sha256').update(document, 'utf8').sign(keyPem, 'base64'),
    pkcs7: (document) => signed(document, 'sha1'),
    rsa2048: (document) => signed(document, 'sha256'),
  };
}
