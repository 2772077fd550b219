// The 443 lockout attack as a process (run inside a test's namespace, where its source addresses exist): from
// each address PER_ADDRESS TLS connections to 127.0.0.1:PORT asking for ALPN http/1.1, each finishing its
// handshake and then sending nothing. A connection the gateway closes is opened again, at most REOPEN_PER_S a
// second in all (0: never), so the attack lasts. First stdout line: {"ready": …} once the first wave has settled; then
// every 500 ms a {"record": …} line.
//
// usage: idle-tls-clients-main.ts PORT PER_ADDRESS REOPEN_PER_S ADDRESS...
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';

const [portArg, perArg, rateArg, ...addresses] = process.argv.slice(2);
const port = Number(portArg);
const perAddress = Number(perArg);
const reopenPerS = Number(rateArg);
if (!Number.isInteger(port) || !Number.isInteger(perAddress) || !(reopenPerS >= 0) || addresses.length === 0) {
  process.stderr.write('usage: idle-tls-clients-main.ts PORT PER_ADDRESS REOPEN_PER_S ADDRESS...\n');
  process.exit(2);
}

type Conn = { address: string; openedAt: number; secureAt?: number };
const live = new Set<Conn>(); // handshake done, not closed
const queue: string[] = []; // addresses to open again
let attempts = 0;
let handshaken = 0;
let closedAfterHandshake = 0;
let maxLifeMs = 0; // handshake → close, of the closed ones
let minLifeMs = Infinity;

function open(address: string): Promise<void> {
  attempts++;
  const c: Conn = { address, openedAt: Date.now() };
  return new Promise((resolve) => {
    const tcp = tcpConnect({ host: '127.0.0.1', port, localAddress: address });
    tcp.on('error', () => undefined);
    const s = connect({ socket: tcp, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    s.on('error', () => undefined);
    s.once('secureConnect', () => {
      c.secureAt = Date.now();
      handshaken++;
      live.add(c);
      resolve();
    });
    s.once('close', () => {
      if (c.secureAt !== undefined) {
        live.delete(c);
        closedAfterHandshake++;
        maxLifeMs = Math.max(maxLifeMs, Date.now() - c.secureAt);
        minLifeMs = Math.min(minLifeMs, Date.now() - c.secureAt);
      }
      if (reopenPerS > 0) queue.push(address);
      resolve();
    });
  });
}

function record(): Record<string, number> {
  const now = Date.now();
  let oldestOpenMs = 0;
  for (const c of live) oldestOpenMs = Math.max(oldestOpenMs, now - (c.secureAt ?? now));
  return { open: live.size, attempts, handshaken, closedAfterHandshake, maxLifeMs, minLifeMs: Number.isFinite(minLifeMs) ? minLifeMs : -1, oldestOpenMs };
}

const first: Array<Promise<void>> = [];
for (let i = 0; i < perAddress; i++) {
  for (const a of addresses) first.push(open(a));
  if (first.length % 64 === 0) await Promise.all(first.slice(-64));
}
await Promise.all(first);
process.stdout.write(JSON.stringify({ ready: record() }) + '\n');

setInterval(() => {
  for (let n = Math.ceil(reopenPerS / 10); n > 0 && queue.length > 0; n--) void open(queue.shift() as string);
}, 100);
setInterval(() => process.stdout.write(JSON.stringify({ record: record() }) + '\n'), 500);
process.once('SIGTERM', () => process.exit(0));
