// The checks on a signed sts:GetCallerIdentity request before the broker forwards it to STS. Pure: the clock
// comes in. The broker cannot check the signature itself (it has no key of the caller's): STS does. What it
// checks here makes that signature worth something to this broker and to no other:
//   - `x-skiff-broker-id` is among the signed headers and names this broker (a request signed for broker X is
//     refused by broker Y: changing the header breaks the signature);
//   - `host` is signed and is the host of the broker's own STS endpoint; the request goes there and nowhere
//     else, whatever URL the client names (no server-side request to a place the client chooses);
//   - X-Amz-Date is within 5 minutes of the broker's clock (and the credential scope's date is its date);
//   - it is exactly GetCallerIdentity: POST /, the one body, no query.
// Each signature is accepted once (replay-cache.ts).
import { SkiffError, echo } from '../api/errors.js';
import { BROKER_ID_HEADER, GET_CALLER_IDENTITY_BODY } from '../api/auth.js';

/** How far X-Amz-Date may be from the broker's clock, either way. */
export const MAX_SIGNATURE_SKEW_MS = 5 * 60_000;
const MAX_HEADERS = 32;
const MAX_HEADER_CHARS = 8192;

export interface SignedRequestExpectations {
  brokerId: string;
  /** The broker's STS endpoint (https://sts.REGION.amazonaws.com, or an emulator's). */
  stsUrl: URL;
  stsRegion: string;
  nowMs: number;
}

export interface CheckedRequest {
  /** Hex signature: the replay cache's key. */
  signature: string;
  accessKeyId: string;
  signedAtMs: number;
  /** What is forwarded: the signed headers and the Authorization header, as the client sent them. */
  headers: Record<string, string>;
  body: string;
}

const refuse = (why: string) => new SkiffError('BRK_UNAUTHORIZED', `signed identity request refused: ${why}`);
const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

function headersOf(raw: unknown): Map<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw refuse('headers must be an object of strings');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) throw refuse(`more than ${MAX_HEADERS} headers`);
  const out = new Map<string, string>();
  for (const [k, v] of entries) {
    const name = k.toLowerCase();
    if (typeof v !== 'string' || v.length > MAX_HEADER_CHARS) throw refuse(`header ${echo(k, 60)} must be a string of at most ${MAX_HEADER_CHARS} characters`);
    if (!/^[a-z0-9-]+$/.test(name)) throw refuse(`header name ${echo(k, 60)} is not a token`);
    if (out.has(name)) throw refuse(`header ${name} is given twice`);
    out.set(name, v);
  }
  return out;
}

export function checkSignedRequest(raw: unknown, x: SignedRequestExpectations): CheckedRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw refuse('the body must be a JSON object { method, url, headers, body }');
  const r = raw as Record<string, unknown>;
  if (r['method'] !== 'POST') throw refuse(`method must be POST (sts:GetCallerIdentity), got ${echo(r['method'], 20)}`);
  if (r['body'] !== GET_CALLER_IDENTITY_BODY) throw refuse(`the body must be exactly ${GET_CALLER_IDENTITY_BODY}`);
  let url: URL;
  try {
    url = new URL(typeof r['url'] === 'string' ? r['url'] : '');
  } catch {
    throw refuse(`url ${echo(r['url'], 200)} is not a URL`);
  }
  // The URL is checked, never used: the request goes to the broker's own endpoint.
  if (url.host !== x.stsUrl.host || url.pathname !== '/' || url.search !== '') {
    throw refuse(`url ${echo(r['url'], 200)} is not this broker's STS endpoint ${x.stsUrl.origin}/`);
  }
  const headers = headersOf(r['headers']);
  const auth = AUTH.exec(headers.get('authorization') ?? '');
  if (!auth) throw refuse('no AWS4-HMAC-SHA256 Authorization header (Credential, SignedHeaders, Signature)');
  const [, accessKeyId, scopeDate, scopeRegion, scopeService, signedList, signature] = auth as unknown as [string, string, string, string, string, string, string];
  const signed = signedList.split(';');
  for (const must of ['host', 'x-amz-date', BROKER_ID_HEADER]) {
    if (!signed.includes(must)) throw refuse(`the signature does not cover the ${must} header (signed: ${signed.join(', ')})`);
  }
  for (const h of signed) if (!headers.has(h)) throw refuse(`signed header ${h} is missing`);
  if (headers.get('host') !== x.stsUrl.host) throw refuse(`host ${echo(headers.get('host'), 100)} is not this broker's STS endpoint ${x.stsUrl.host}`);
  const brokerId = headers.get(BROKER_ID_HEADER);
  if (brokerId !== x.brokerId) throw refuse(`it was signed for broker ${echo(brokerId, 130)}, and this is broker ${JSON.stringify(x.brokerId)}`);
  if (scopeService !== 'sts') throw refuse(`it was signed for service ${scopeService}, not sts`);
  if (scopeRegion !== x.stsRegion) throw refuse(`it was signed for region ${scopeRegion}; this broker's STS is in ${x.stsRegion}`);
  const d = AMZ_DATE.exec(headers.get('x-amz-date') ?? '');
  if (!d) throw refuse('X-Amz-Date is not a date like 20260101T120000Z');
  const signedAtMs = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(d[4]), Number(d[5]), Number(d[6]));
  if (`${d[1]}${d[2]}${d[3]}` !== scopeDate) throw refuse('the credential scope\'s date is not X-Amz-Date\'s');
  const skew = signedAtMs - x.nowMs;
  if (!Number.isFinite(signedAtMs) || Math.abs(skew) > MAX_SIGNATURE_SKEW_MS) {
    throw refuse(`it was signed at ${headers.get('x-amz-date') ?? ''}, ${Math.round(Math.abs(skew) / 1000)} s ${skew < 0 ? 'ago' : 'ahead of the broker\'s clock'}; a signature is good for ${MAX_SIGNATURE_SKEW_MS / 60_000} minutes (check this computer's clock)`);
  }
  const forward: Record<string, string> = { authorization: headers.get('authorization') ?? '' };
  for (const h of signed) forward[h] = headers.get(h) ?? '';
  return { signature, accessKeyId, signedAtMs, headers: forward, body: GET_CALLER_IDENTITY_BODY };
}
