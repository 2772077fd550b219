// What Dask's own TLS listener accepts, probed as testssl does: one `openssl s_client` (with the user's
// certificate: Dask asks for one) per protocol version and per TLS 1.2 suite, straight through the gateway's
// pass-through to the scheduler. Only TLS 1.2/1.3 with forward-secret AEAD suites (Mozilla "intermediate", as the
// gateway's HTTPS side) complete a handshake; a real Dask client still computes.
import t from 'tap';
import { execFile } from 'node:child_process';
import { makeHome, DASK_PYTHON, ROOT } from '../helpers/skiff.js';
import { join } from 'node:path';

interface UpJson { scheduler: string; credentials: { ca: string; cert: string; key: string } }

t.test('Dask\'s TLS listener offers only TLS 1.2+ with forward-secret AEAD suites', async (t) => {
  const h = makeHome();
  t.teardown(() => h.cleanup());
  const up = await h.run(['up', '--workers', '1', '--name', 'tls', '--software', 'system', '--json'], { timeoutMs: 240_000 });
  t.equal(up.code, 0, up.stderr);
  const c = JSON.parse(up.stdout) as UpJson;
  const hostPort = c.scheduler.replace('tls://', '');
  const handshake = (args: string[]) => new Promise<string | undefined>((resolve) => {
    execFile('openssl', ['s_client', '-connect', hostPort, '-cert', c.credentials.cert, '-key', c.credentials.key, '-CAfile', c.credentials.ca, ...args], { timeout: 15_000 }, (_err, stdout) => {
      const cipher = /Cipher\s*(?:is|:)\s*(\S+)/.exec(stdout)?.[1];
      resolve(cipher && cipher !== '(NONE)' && cipher !== '0000' ? cipher : undefined);
    }).stdin?.end();
  });
  for (const v of ['-tls1', '-tls1_1']) t.equal(await handshake([v]), undefined, `${v} refused`);
  t.ok(await handshake(['-tls1_3']), 'TLS 1.3 accepted');
  for (const suite of ['ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA384', 'ECDHE-RSA-AES128-SHA', 'DHE-RSA-AES128-GCM-SHA256', 'AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-SHA256']) {
    t.equal(await handshake(['-tls1_2', '-cipher', suite]), undefined, `TLS 1.2 ${suite} refused`);
  }
  const accepted: string[] = [];
  for (const suite of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
    const got = await handshake(['-tls1_2', '-cipher', suite]);
    if (got !== undefined) accepted.push(got);
  }
  t.ok(accepted.length >= 2, `forward-secret AEAD suites of the certificate's key type are accepted: ${accepted.join(', ')}`);
  t.ok(accepted.every((s) => /^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/.test(s)), 'only those');
  const info = await new Promise<string>((resolve) => execFile(DASK_PYTHON, [join(ROOT, 'test/integration/fixtures/dask_info.py'), c.scheduler, c.credentials.ca, c.credentials.cert, c.credentials.key, '30'], { timeout: 90_000 }, (_e, out) => resolve(out)));
  t.match(info, /"result": 4950/, 'a real Dask client computes');
});
