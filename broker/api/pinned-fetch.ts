// A `fetch` that trusts one CA and nothing else: for calls to a broker whose certificate comes from a private CA
// (the workspace's broker CA, or the one a self-hosted broker was given with --tls-ca). Adding that CA to the
// system's (NODE_EXTRA_CA_CERTS) would also trust every public CA for the broker's address; pinned, a certificate
// any other CA issued is refused before a byte of the request is sent. Node's own fetch takes no CA, so this speaks
// HTTPS with node:https and answers a standard Response. Plain http:// (a loopback broker) goes to `fallback`.
import { request } from 'node:https';

/** What callers give (callBroker, boot reports): a string body at most, a signal for the timeout. */
export function pinnedFetch(caPem: string, fallback: typeof fetch = fetch): typeof fetch {
  return (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : input instanceof URL ? input.href : input);
    if (url.protocol !== 'https:') return fallback(input, init);
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string') return Promise.reject(new TypeError('pinnedFetch sends string bodies only'));
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        return;
      }
      // `ca` replaces the system's trust store for this request: the pinned CA alone.
      const req = request(url, { method: init.method ?? 'GET', headers, ca: caPem }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 502;
          const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
          resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: out }));
        });
      });
      const onAbort = (): void => {
        req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      });
      req.on('close', () => signal?.removeEventListener('abort', onAbort));
      req.end(typeof body === 'string' ? body : undefined);
    });
  };
}
