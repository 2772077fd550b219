import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import t from 'tap';
import { createAdmission, networkOf, type AdmissionOptions } from '../../../../agent/gateway/admission.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close'));
    }
    return this;
  }
}
const sock = (address: string) => new FakeSocket(address) as unknown as Socket & FakeSocket;
const big: AdmissionOptions = { maxConnections: 1000, maxUntrustedPerAddress: 1000, maxUntrustedPerNetwork: 1000, maxPending: 1000, maxAnonymous: 1000 };
const tick = () => new Promise((r) => setImmediate(r));

t.test('an address counts against its /24 (IPv4, also mapped) or its /64 (IPv6)', async (t) => {
  const table: Array<[string, string]> = [
    ['10.1.2.3', '10.1.2.0/24'],
    ['::ffff:10.1.2.200', '10.1.2.0/24'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ];
  for (const [address, network] of table) t.equal(networkOf(address), network, address);
});

t.test('a browser without a session cannot push out a Dask handshake: each stage is its own pool', async (t) => {
  const a = createAdmission({ ...big, maxPending: 4, maxAnonymous: 4 });
  const dask = sock('10.0.0.1');
  a.admit(dask);
  const browsers = Array.from({ length: 50 }, (_, i) => sock(`10.${i}.0.9`));
  for (const b of browsers) {
    a.admit(b);
    a.handedOver(b);
  }
  t.notOk(dask.destroyed, 'the pending Dask handshake is still open');
  t.equal(browsers.filter((b) => !b.destroyed).length, 4, 'four anonymous browsers are kept');
  t.same(browsers.map((b) => b.destroyed).slice(-4), [false, false, false, false], 'the newest ones');
  t.equal(a.stats().evicted, 46);
});

t.test('trusted connections keep their slots; a full gateway closes untrusted ones first, then refuses', async (t) => {
  const a = createAdmission({ ...big, maxConnections: 6 });
  const trusted = Array.from({ length: 4 }, (_, i) => sock(`10.0.${i}.1`));
  for (const s of trusted) {
    t.ok(a.admit(s));
    a.trusted(s);
  }
  const nobody = [sock('10.9.0.1'), sock('10.9.0.2')];
  for (const s of nobody) a.admit(s);
  t.equal(a.stats().open, 6);
  const late = sock('10.9.0.3');
  t.ok(a.admit(late), 'one more is let in');
  t.ok(nobody[0]?.destroyed, 'in place of the oldest untrusted connection');
  a.trusted(late);
  a.trusted(nobody[1] as Socket);
  t.notOk(a.admit(sock('10.9.0.4')), 'every slot trusted: a new one is refused');
  t.equal(trusted.filter((s) => s.destroyed).length, 0, 'no trusted connection was closed');
  t.same({ ...a.stats() }, { open: 6, pending: 0, anonymous: 0, trusted: 6, refused: 1, evicted: 1 });
  trusted[0]?.destroy();
  await tick();
  t.ok(a.admit(sock('10.9.0.5')), 'a closed trusted connection frees its slot');
});

t.test('one address, or one /24, crowds out only itself', async (t) => {
  const a = createAdmission({ ...big, maxUntrustedPerAddress: 3, maxUntrustedPerNetwork: 5 });
  const other = sock('192.0.2.1');
  a.admit(other);
  const one = Array.from({ length: 10 }, () => sock('198.51.100.7'));
  for (const s of one) a.admit(s);
  t.equal(one.filter((s) => !s.destroyed).length, 3, 'one address holds at most 3');
  const net = Array.from({ length: 20 }, (_, i) => sock(`198.51.100.${20 + i}`));
  for (const s of net) a.admit(s);
  t.equal([...one, ...net].filter((s) => !s.destroyed).length, 5, 'its /24 holds at most 5');
  t.notOk(other.destroyed, 'another network is untouched');
  a.trusted(net[19] as Socket);
  for (let i = 0; i < 10; i++) a.admit(sock('198.51.100.99'));
  t.notOk(net[19]?.destroyed, 'a trusted connection does not count against its network');
});

t.test('the same for an IPv6 /64', async (t) => {
  const a = createAdmission({ ...big, maxUntrustedPerNetwork: 4 });
  const s = Array.from({ length: 12 }, (_, i) => sock(`2001:db8:5:6::${(i + 1).toString(16)}`));
  for (const x of s) a.admit(x);
  t.equal(s.filter((x) => !x.destroyed).length, 4);
  const elsewhere = sock('2001:db8:5:7::1');
  a.admit(elsewhere);
  t.notOk(elsewhere.destroyed);
});

t.test('a closed connection is counted out once, evicted or not', async (t) => {
  const a = createAdmission({ ...big, maxPending: 2 });
  const s = [sock('10.0.0.1'), sock('10.0.0.2'), sock('10.0.0.3')];
  for (const x of s) a.admit(x);
  await tick();
  t.same({ ...a.stats() }, { open: 2, pending: 2, anonymous: 0, trusted: 0, refused: 0, evicted: 1 });
  s[1]?.destroy();
  s[2]?.destroy();
  await tick();
  t.same({ ...a.stats() }, { open: 0, pending: 0, anonymous: 0, trusted: 0, refused: 0, evicted: 1 });
});

t.test('a flood pushes out its own handshakes first: a client with one in flight keeps it, even in the same /24', async (t) => {
  const a = createAdmission({ ...big, maxPending: 8, maxUntrustedPerNetwork: 16 });
  const client = sock('203.0.113.1');
  a.admit(client);
  // Far more than the pool holds, from three addresses of the client's own /24 and from another network.
  const flood = Array.from({ length: 400 }, (_, i) => sock(i % 4 === 3 ? '198.51.100.9' : `203.0.113.${10 + (i % 3)}`));
  for (const s of flood) a.admit(s);
  t.notOk(client.destroyed, "the client's handshake is still open after 400 newer arrivals");
  t.equal(a.stats().pending, 8, 'the pool stays at its bound');
  t.equal(flood.filter((s) => !s.destroyed).length, 7, 'the flood keeps the rest of it');
  // Among equals the oldest goes: eight addresses with one handshake each, then a ninth.
  const b = createAdmission({ ...big, maxPending: 8 });
  const one = Array.from({ length: 9 }, (_, i) => sock(`192.0.2.${i + 1}`));
  for (const s of one) b.admit(s);
  t.same(one.map((s) => s.destroyed), [true, false, false, false, false, false, false, false, false], 'the oldest of equals is closed');
});
