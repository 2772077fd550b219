// A stand-in for STS in unit tests that does what STS does with a signed GetCallerIdentity: it recomputes
// the SigV4 signature with the keys it knows (the SDK's own signer) and answers who signed, or
// SignatureDoesNotMatch. Each request it received is kept, byte for byte.
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import type { StsSender } from '../../broker/auth/sts-forward.js';

export interface KnownKey {
  accessKeyId: string;
  secretAccessKey: string;
  arn: string;
  account: string;
}

class Sha256 {
  private h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', typeof secret === 'string' ? secret : Buffer.from(secret as Uint8Array));
  }
  update(d: Uint8Array | string) {
    this.h.update(d);
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset() {}
}

const error = (code: string, message: string) => ({ status: 403, body: `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error></ErrorResponse>` });

export function fakeSts(keys: KnownKey[]): { send: StsSender; received: Array<{ url: string; headers: Record<string, string>; body: string }> } {
  const received: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
  const send: StsSender = async (url, headers, body) => {
    received.push({ url: url.href, headers: { ...headers }, body });
    const m = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)/.exec(headers['authorization'] ?? '');
    const key = keys.find((k) => k.accessKeyId === m?.[1]);
    if (!m || !key) return error('InvalidClientTokenId', 'The security token included in the request is invalid.');
    const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(headers['x-amz-date'] ?? '');
    if (!d) return error('IncompleteSignature', 'no date');
    const signingDate = new Date(Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!));
    const signedNames = (m[4] ?? '').split(';');
    const toSign: Record<string, string> = {};
    for (const n of signedNames) if (n !== 'x-amz-date') toSign[n] = headers[n] ?? '';
    const signer = new SignatureV4({ service: 'sts', region: m[3] ?? '', credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, sha256: Sha256 });
    const again = await signer.sign({ method: 'POST', protocol: url.protocol, hostname: url.hostname, path: '/', query: {}, headers: toSign, body }, { signingDate, signableHeaders: new Set(signedNames) });
    const expected = /Signature=([0-9a-f]+)/.exec(String(again.headers['authorization']))?.[1];
    if (expected !== m[5]) return error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    return {
      status: 200,
      body: `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${key.arn}</Arn><UserId>AIDA${key.accessKeyId}</UserId><Account>${key.account}</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`,
    };
  };
  return { send, received };
}
