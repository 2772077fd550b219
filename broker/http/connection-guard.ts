// Caps on a server's open connections: in all, and from one address. A connection past a cap is closed
// before any byte is read, so one source cannot hold every socket the broker has while others still get in.

import type { Server } from 'node:net';
import type { Socket } from 'node:net';

export interface ConnectionCaps {
  maxConnections: number;
  maxPerAddress: number;
}

export interface ConnectionGuard {
  /** Open connections per address now (for tests and the log). */
  open(): ReadonlyMap<string, number>;
  /** Connections closed at once because a cap was reached, since the start. */
  refused(): number;
}

export function guardConnections(server: Server, caps: ConnectionCaps, event: 'connection' | 'secureConnection' = 'connection'): ConnectionGuard {
  const perAddress = new Map<string, number>();
  let total = 0;
  let refused = 0;
  server.on(event, (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const mine = perAddress.get(address) ?? 0;
    if (total >= caps.maxConnections || mine >= caps.maxPerAddress) {
      refused++;
      socket.destroy();
      return;
    }
    total++;
    perAddress.set(address, mine + 1);
    socket.once('close', () => {
      total--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
  return { open: () => perAddress, refused: () => refused };
}
