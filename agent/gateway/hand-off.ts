// Sockets the gateway hands to one of its in-process TLS servers (dashboard, data access), and what their TLS
// sockets prove. The TLS server makes its own socket for a handed-over raw one; they are matched by remote
// address and port while the handshake runs. Then:
//   - data access: the handshake itself verified a certificate of the cluster's CA, so the raw socket is trusted;
//   - dashboard: the raw socket stays anonymous until a request on it shows a valid ticket or session
//     (`trusted`), and is closed if none does within trustTimeoutMs of the handshake.
import type { Socket } from 'node:net';
import type { Admission } from './admission.js';

export type HandOff = {
  /** Gives `client` (whose ClientHello is `buffered`) to `target`, an in-process TLS server. */
  give(target: { emit(event: 'connection', s: Socket): boolean }, client: Socket, buffered: Buffer): void;
  /** The TLS server finished a handshake on `tls`; `trustNow`: the handshake proved the peer. */
  handshaken(tls: Socket, trustNow: boolean): void;
  /** A request on `tls` showed a valid ticket or session. */
  trusted(tls: Socket): void;
};

export function createHandOff(o: { admission: Admission; trustTimeoutMs: number; onTrustTimeout: () => void }): HandOff {
  const inHandshake = new Map<string, Socket>();
  const waiting = new WeakMap<Socket, { raw: Socket; timer: NodeJS.Timeout }>();
  const keyOf = (s: Socket): string => `${s.remoteAddress ?? ''}:${s.remotePort ?? ''}`;
  return {
    give(target, client, buffered) {
      const key = keyOf(client);
      inHandshake.set(key, client);
      client.once('close', () => {
        if (inHandshake.get(key) === client) inHandshake.delete(key);
      });
      o.admission.handedOver(client);
      // The TLS server reads what is already buffered on the socket before reading from its handle.
      client.unshift(buffered);
      client.on('error', () => client.destroy());
      target.emit('connection', client);
    },
    handshaken(tls, trustNow) {
      const key = keyOf(tls);
      const raw = inHandshake.get(key);
      if (!raw) return;
      inHandshake.delete(key);
      if (trustNow) return o.admission.trusted(raw);
      const timer = setTimeout(() => {
        o.onTrustTimeout();
        tls.destroy();
        raw.destroy();
      }, o.trustTimeoutMs);
      timer.unref();
      raw.once('close', () => clearTimeout(timer));
      waiting.set(tls, { raw, timer });
    },
    trusted(tls) {
      const w = waiting.get(tls);
      if (!w) return;
      waiting.delete(tls);
      clearTimeout(w.timer);
      o.admission.trusted(w.raw);
    },
  };
}
