// Who holds a connection on the public port. Each connection is in one stage:
//
//   pending ──(routed to the gateway's own TLS)──▶ anonymous ──(valid ticket / session / CA certificate)──▶ trusted
//      └──────────(pass-through: mutual-TLS handshake with the scheduler over)─────────────────────────────▲
//
// Bounds (defaults and their reasons in limits.ts):
//   - pending ≤ maxPending and anonymous ≤ maxAnonymous, each a pool of its own: one more closes a connection of
//     that pool, the OLDEST of the address holding the most untrusted connections. A flood then pushes out its own
//     sockets first: a real client, one or two handshakes in flight from its address, is not churned out of the
//     pool however fast an attacker on other addresses opens connections, and among equals (many addresses with
//     one each) the oldest, the silent one, goes. Browsers without a session cannot push out a Dask handshake,
//     and the slots beyond both pools are left to trusted connections.
//   - untrusted (pending + anonymous) per address ≤ maxUntrustedPerAddress: one more closes that address's oldest;
//     per network (IPv4 /24, IPv6 /64) ≤ maxUntrustedPerNetwork: one more closes that network's heaviest address's
//     oldest, so a neighbour in the same /24 is not pushed out by the address flooding it.
//   - open ≤ maxConnections: one more closes an untrusted connection as the pools choose (pending first); when all
//     are trusted it is refused.
// Trusted connections are never pushed out.
import type { Socket } from 'node:net';

export type AdmissionOptions = {
  maxConnections: number;
  maxUntrustedPerAddress: number;
  maxUntrustedPerNetwork: number;
  maxPending: number;
  maxAnonymous: number;
};

export type AdmissionStats = {
  open: number;
  pending: number;
  anonymous: number;
  trusted: number;
  refused: number; // closed at once: every open connection is trusted and the cap is reached
  evicted: number; // untrusted connections closed to make room for a newer one
};

export type Admission = {
  /** Counts the socket in, pending (false: it was closed, every slot is held by a trusted connection). */
  admit(socket: Socket): boolean;
  /** The socket goes to the gateway's own TLS: no longer pending, anonymous until trusted. */
  handedOver(socket: Socket): void;
  /** The socket showed who it is: it no longer counts against any pool or source cap. */
  trusted(socket: Socket): void;
  stats(): AdmissionStats;
};

type Stage = 'pending' | 'anonymous' | 'trusted';
type Entry = { stage: Stage; address: string; network: string };

/** The network a source address counts against: its /24 (IPv4, also IPv4-mapped IPv6) or its /64 (IPv6). */
export function networkOf(address: string): string {
  const bare = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  const v4 = mapped ? mapped[1] ?? '' : bare;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  const [head = '', tail] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}

export function createAdmission(o: AdmissionOptions): Admission {
  const entries = new Map<Socket, Entry>();
  const pools: Record<'pending' | 'anonymous', Set<Socket>> = { pending: new Set(), anonymous: new Set() }; // oldest first
  const byAddress = new Map<string, Set<Socket>>(); // untrusted only, oldest first
  const byNetwork = new Map<string, Set<Socket>>();
  let refused = 0;
  let evicted = 0;

  const addTo = (m: Map<string, Set<Socket>>, key: string, s: Socket): void => {
    const set = m.get(key) ?? new Set<Socket>();
    set.add(s);
    m.set(key, set);
  };
  const removeFrom = (m: Map<string, Set<Socket>>, key: string, s: Socket): void => {
    const set = m.get(key);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) m.delete(key);
  };
  /** Takes the socket out of every untrusted count (it is trusted now, closed or about to be). */
  const untrack = (s: Socket, e: Entry): void => {
    if (e.stage === 'trusted') return;
    pools[e.stage].delete(s);
    removeFrom(byAddress, e.address, s);
    removeFrom(byNetwork, e.network, s);
  };
  const evict = (s: Socket | undefined): void => {
    const e = s && entries.get(s);
    if (!s || !e) return;
    untrack(s, e);
    entries.delete(s);
    evicted++;
    s.destroy();
  };
  const oldest = (set: Set<Socket> | undefined): Socket | undefined => set?.values().next().value;
  /** The oldest connection in `set` of the address with the most untrusted connections (ties: the oldest). */
  const heaviest = (set: Set<Socket> | undefined): Socket | undefined => {
    let best: Socket | undefined;
    let most = 0;
    for (const s of set ?? []) {
      const e = entries.get(s);
      const n = e ? (byAddress.get(e.address)?.size ?? 0) : 0;
      if (n > most) {
        best = s;
        most = n;
      }
    }
    return best;
  };

  return {
    admit(socket) {
      const address = socket.remoteAddress ?? '';
      const network = networkOf(address);
      if (entries.size >= o.maxConnections) {
        const victim = heaviest(pools.pending) ?? heaviest(pools.anonymous);
        if (!victim) {
          refused++;
          socket.destroy();
          return false;
        }
        evict(victim);
      }
      if ((byAddress.get(address)?.size ?? 0) >= o.maxUntrustedPerAddress) evict(oldest(byAddress.get(address)));
      if ((byNetwork.get(network)?.size ?? 0) >= o.maxUntrustedPerNetwork) evict(heaviest(byNetwork.get(network)));
      if (pools.pending.size >= o.maxPending) evict(heaviest(pools.pending));
      const entry: Entry = { stage: 'pending', address, network };
      entries.set(socket, entry);
      pools.pending.add(socket);
      addTo(byAddress, address, socket);
      addTo(byNetwork, network, socket);
      socket.once('close', () => {
        if (entries.get(socket) !== entry) return; // evicted: counted out already
        untrack(socket, entry);
        entries.delete(socket);
      });
      return true;
    },
    handedOver(socket) {
      const e = entries.get(socket);
      if (!e || e.stage !== 'pending') return;
      pools.pending.delete(socket);
      if (pools.anonymous.size >= o.maxAnonymous) evict(heaviest(pools.anonymous));
      e.stage = 'anonymous';
      pools.anonymous.add(socket);
    },
    trusted(socket) {
      const e = entries.get(socket);
      if (!e) return;
      untrack(socket, e);
      e.stage = 'trusted';
    },
    stats: () => ({
      open: entries.size,
      pending: pools.pending.size,
      anonymous: pools.anonymous.size,
      trusted: entries.size - pools.pending.size - pools.anonymous.size,
      refused,
      evicted,
    }),
  };
}
