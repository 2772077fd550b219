import t from 'tap';
import { createServer, type Server } from 'node:net';
import { ephemeralLow, freeLocalPort } from '../../../../provisioner/local/ports.js';

t.test('the ephemeral range is read from the kernel, with IANA\'s bound when it cannot be', async (t) => {
  t.equal(ephemeralLow(() => '32768\t60999\n'), 32768);
  t.equal(ephemeralLow(() => 'garbage'), 49152);
  t.equal(ephemeralLow(() => {
    throw new Error('ENOENT');
  }), 49152);
});

t.test('ports come from below the ephemeral range, are free, and are not handed out twice', async (t) => {
  const low = ephemeralLow();
  const ports: number[] = [];
  for (let i = 0; i < 40; i++) ports.push(await freeLocalPort());
  t.equal(new Set(ports).size, ports.length, 'forty distinct ports');
  t.ok(ports.every((p) => p >= 20000 && p < low), `all in [20000, ${low})`);
  // Each one can be bound right away.
  const servers: Server[] = [];
  t.teardown(() => servers.forEach((s) => s.close()));
  for (const p of ports.slice(0, 5)) {
    const s = createServer();
    servers.push(s);
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(p, '127.0.0.1', resolve));
  }
  t.pass('the first five bind');
});

t.test('a port something else listens on is skipped', async (t) => {
  const next = await freeLocalPort();
  // Occupy the next few candidates; the one handed out is none of them.
  const servers: Server[] = [];
  t.teardown(() => servers.forEach((s) => s.close()));
  const taken: number[] = [];
  for (let p = next + 1; p <= next + 3; p++) {
    const s = createServer();
    const ok = await new Promise<boolean>((resolve) => s.once('error', () => resolve(false)).listen(p, '127.0.0.1', () => resolve(true)));
    if (ok) {
      servers.push(s);
      taken.push(p);
    }
  }
  const got = await freeLocalPort();
  t.notOk(taken.includes(got), `got ${got}, none of the occupied ${taken.join(', ')}`);
});
