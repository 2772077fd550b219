import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// A local cluster's ports are chosen when it is planned and bound seconds later, when its agents start.
// A port taken with bind(0) and released is back in the kernel's ephemeral range at once: any process's
// next bind(0) or outgoing connection may take it in between (a Dask worker's listener, a client's
// socket), and the scheduler then fails to start on "address already in use". So ports come from below
// the ephemeral range, where neither bind(0) nor connect() ever goes, each one checked free and not
// handed out again by this process while it is recent.

const FLOOR = 20_000;
const RECENT = 4096;
const handedOut: number[] = [];
let cursor = -1;

/** Low bound of the kernel's ephemeral range (Linux; other systems: IANA's 49152). */
export function ephemeralLow(read: () => string = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')): number {
  try {
    const low = Number(read().trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 && low < 65_536 ? low : 49_152;
  } catch {
    return 49_152;
  }
}

function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : undefined));
    });
  });
}

/** A port on 127.0.0.1 that is free now and that no bind(0) or outgoing connection will take meanwhile. */
export async function freeLocalPort(): Promise<number> {
  const high = ephemeralLow();
  const span = high - FLOOR;
  if (span >= 1000) {
    if (cursor < 0) cursor = Math.floor(Math.random() * span);
    for (let tries = 0; tries < Math.min(span, 2000); tries++) {
      cursor = (cursor + 1) % span;
      const port = FLOOR + cursor;
      if (handedOut.includes(port)) continue;
      if ((await tryBind(port)) === port) {
        handedOut.push(port);
        if (handedOut.length > RECENT) handedOut.shift();
        return port;
      }
    }
  }
  // No room below the ephemeral range (an unusual kernel setting): the kernel's choice.
  const port = await tryBind(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}
