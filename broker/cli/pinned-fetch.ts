// The CLI's connection to a deployed broker: HTTPS trusting one CA alone (its workspace's published broker CA),
// never the system's CAs and never what the broker itself presents. Node's fetch takes no CA, so this is the part
// of fetch that callBroker uses, over node:https. A certificate that does not chain to the pinned CA (or does not
// name the host) fails the TLS handshake before the request is written: nothing is sent, not even its headers.
import { Agent, request } from 'node:https';
import { SkiffError } from '../api/errors.js';

/** OpenSSL's and Node's codes for a certificate that does not hold (as opposed to a network failure). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'INVALID_CA', 'INVALID_PURPOSE', 'PATH_LENGTH_EXCEEDED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/** An answer of the broker's API is small; more is not the broker. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface PinnedFetchOptions {
  /** The one CA certificate (PEM) the broker's must chain to. */
  caPem: string;
  /** Where the pin comes from, for the error: "the broker CA published in SSM parameter /skiff/W/broker (R)". */
  pinnedFrom: string;
}

export interface PinnedFetch {
  fetch: typeof fetch;
  /** Closes kept-alive connections (they never hold the process open). */
  close(): void;
}

export function createPinnedFetch(o: PinnedFetchOptions): PinnedFetch {
  const agent = new Agent({ ca: o.caPem, keepAlive: true, maxSockets: 8 });
  const pinned = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.protocol !== 'https:') return Promise.reject(new SkiffError('CLI_USAGE', `a pinned broker connection is https only, not ${url.protocol}`));
    if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') return Promise.reject(new TypeError('the pinned connection sends string bodies only'));
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const body = init.body ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason as Error);
      const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > MAX_RESPONSE_BYTES) req.destroy(new Error(`the broker's answer exceeds ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const status = res.statusCode ?? 502;
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve(new Response([101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: h }));
        });
        res.on('error', reject);
      });
      const onAbort = () => req.destroy(signal?.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', onAbort));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== undefined && UNTRUSTED.has(err.code)) {
          reject(new SkiffError('CLI_BROKER_UNTRUSTED',
            `the broker at ${url.origin} presented a certificate that ${o.pinnedFrom} does not vouch for (${err.code}: ${err.message}): refused, nothing was sent. ` +
            'If the broker was just set up again, run `skiff setup aws` to publish its CA; otherwise something else answers at that address', { cause: err }));
        } else reject(err);
      });
      req.end(body);
    });
  };
  return { fetch: pinned, close: () => agent.destroy() };
}
