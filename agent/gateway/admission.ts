// Who gets a connection on the public port. Three bounds:
//   - open connections in all (maxConnections) and from one address (maxPerAddress): past either, a new
//     connection is closed at once;
//   - connections that have not yet proven themselves (no completed TLS handshake: still sending their
//     ClientHello, or handshaking) are at most maxPending; when one more arrives the OLDEST unproven one is
//     closed. Sockets opened and left silent by an attacker are then the ones that go, and a real client,
//     whose handshake takes milliseconds, is proven long before 'maxPending' newer arrivals push it out.
// Proven connections (a Dask client, a dashboard) are never pushed out by unproven ones.
import type { Socket } from 'node:net';

export type AdmissionOptions = {
  maxConnections: number;
  maxPerAddress: number;
  maxPending: number;
};

export type AdmissionStats = {
  open: number;
  pending: number;
  refused: number; // closed at once: a cap on open connections was reached
  evicted: number; // unproven connections closed to make room for a newer one
};

export type Admission = {
  /** Counts the socket in (false: it was closed, a cap is reached). It starts unproven. */
  admit(socket: Socket): boolean;
  /** The socket completed its TLS handshake: it no longer counts against maxPending. */
  proven(socket: Socket): void;
  stats(): AdmissionStats;
};

export function createAdmission(o: AdmissionOptions): Admission {
  const perAddress = new Map<string, number>();
  const pending = new Set<Socket>(); // insertion order: the first is the oldest
  let open = 0;
  let refused = 0;
  let evicted = 0;
  return {
    admit(socket) {
      const address = socket.remoteAddress ?? '';
      const mine = perAddress.get(address) ?? 0;
      if (open >= o.maxConnections || mine >= o.maxPerAddress) {
        refused++;
        socket.destroy();
        return false;
      }
      open++;
      perAddress.set(address, mine + 1);
      socket.once('close', () => {
        open--;
        pending.delete(socket);
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left <= 0) perAddress.delete(address);
        else perAddress.set(address, left);
      });
      pending.add(socket);
      while (pending.size > o.maxPending) {
        const oldest = pending.values().next().value as Socket;
        pending.delete(oldest);
        evicted++;
        oldest.destroy();
      }
      return true;
    },
    proven(socket) {
      pending.delete(socket);
    },
    stats: () => ({ open, pending: pending.size, refused, evicted }),
  };
}
