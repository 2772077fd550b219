// Opens a TLS connection the way a Dask client would (no ALPN) and reports how the server answered:
// 'open' when the handshake is accepted and the connection stays up, else the error the client saw.
import { connect } from 'node:tls';

export function tlsProbe(port: number, o: { ca: string; cert?: string; key?: string; alpn?: string[]; waitMs?: number }): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ca: o.ca,
      ...(o.cert !== undefined ? { cert: o.cert } : {}),
      ...(o.key !== undefined ? { key: o.key } : {}),
      ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
      checkServerIdentity: () => undefined,
    });
    let done = false;
    const finish = (r: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish('open'), o.waitMs ?? 1500);
    s.on('error', (err: NodeJS.ErrnoException) => finish(`error:${err.code ?? err.message}`));
    s.on('close', () => finish('closed'));
  });
}
