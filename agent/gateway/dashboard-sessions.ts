// The dashboard token in a URL is a ticket: it is exchanged once for a session (a random cookie value the
// gateway alone knows), and a second use is refused, so a URL left in a browser's history, a chat or a
// Referer opens nothing. Both tables are bounded: the oldest entry goes first.
import { createHash, randomBytes } from 'node:crypto';

export type DashboardSessions = {
  /** False when this ticket was exchanged before. Remembers it for `ticketMemoryMs`. */
  spendTicket(ticket: string): boolean;
  /** A new session's cookie value. */
  open(): string;
  valid(session: string): boolean;
};

export type DashboardSessionOptions = {
  sessionTtlMs?: number; // default 12 h: a working day
  ticketMemoryMs?: number; // default 24 h: longer than the broker's dashboard token life
  maxEntries?: number; // default 10_000 of each
  now?: () => number;
};

export function createDashboardSessions(o: DashboardSessionOptions = {}): DashboardSessions {
  const now = o.now ?? Date.now;
  const sessionTtlMs = o.sessionTtlMs ?? 12 * 3600_000;
  const ticketMemoryMs = o.ticketMemoryMs ?? 24 * 3600_000;
  const max = o.maxEntries ?? 10_000;
  const sessions = new Map<string, number>(); // sha256(value) → expiry
  const spent = new Map<string, number>(); // sha256(ticket) → forget after
  const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
  const put = (m: Map<string, number>, k: string, until: number): void => {
    for (const [key, exp] of m) {
      if (m.size < max && exp > now()) break;
      m.delete(key); // the oldest (or an expired one) first
    }
    m.set(k, until);
  };
  return {
    spendTicket(ticket) {
      const k = hash(ticket);
      const known = spent.get(k);
      if (known !== undefined && known > now()) return false;
      put(spent, k, now() + ticketMemoryMs);
      return true;
    },
    open() {
      const value = randomBytes(32).toString('base64url');
      put(sessions, hash(value), now() + sessionTtlMs);
      return value;
    },
    valid(session) {
      const exp = sessions.get(hash(session));
      return exp !== undefined && exp > now();
    },
  };
}
