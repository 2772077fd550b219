import t from 'tap';
import { buildUserData, MAX_USER_DATA_BYTES } from '../../../../provisioner/plan/user-data.js';

const bundle = { path: '/v1/agent/bundle', sha256: 'ab'.repeat(32), entry: 'agent/main.js' };
const token = 'eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJlbnJvbCJ9.c2lnbmF0dXJl';

t.test('carries the broker URL, the enrol token and the pinned bundle checksum', async (t) => {
  const s = buildUserData({ brokerUrl: 'https://broker.example.com:8443', enrolToken: token, bundle });
  t.match(s, /^#!\/bin\/bash\n/);
  t.match(s, "SKIFF_BROKER_URL='https://broker.example.com:8443'");
  t.match(s, `SKIFF_ENROL_TOKEN='${token}'`);
  t.match(s, `BUNDLE_SHA256='${bundle.sha256}'`);
  t.match(s, /sha256sum -c -/);
  t.match(s, /Restart=on-failure/);
  t.ok(Buffer.byteLength(s) < MAX_USER_DATA_BYTES, 'under 16 KB');
});

t.test('carries no key or certificate material', async (t) => {
  const s = buildUserData({ brokerUrl: 'https://broker.example.com', enrolToken: token, bundle });
  t.notMatch(s, /-----BEGIN/);
  t.notMatch(s, /PRIVATE KEY|CERTIFICATE/);
  t.notMatch(s, /AWS_SECRET_ACCESS_KEY|aws_secret/i);
});

t.test('refuses values that could break out of the shell quoting', async (t) => {
  t.throws(() => buildUserData({ brokerUrl: "https://x'; rm -rf /; '", enrolToken: token, bundle }), { code: 'PRV_INVALID_REQUEST', message: /broker URL/ });
  t.throws(() => buildUserData({ brokerUrl: 'https://x', enrolToken: "a'b", bundle }), { code: 'PRV_INVALID_REQUEST', message: /enrolment token/ });
  t.throws(() => buildUserData({ brokerUrl: 'https://x', enrolToken: token, bundle: { ...bundle, sha256: 'xyz' } }), { code: 'PRV_INVALID_REQUEST', message: /sha256/ });
  t.throws(() => buildUserData({ brokerUrl: 'https://x', enrolToken: token, bundle: { ...bundle, entry: '../../etc/passwd' } }), { code: 'PRV_INVALID_REQUEST' });
});

t.test('refuses user-data over 16 KB with the size in the message', async (t) => {
  t.throws(() => buildUserData({ brokerUrl: 'https://x', enrolToken: 'a'.repeat(4096) + '.' + 'b', bundle }), {
    code: 'PRV_INVALID_REQUEST',
  });
  const big = 'a'.repeat(4000);
  t.throws(() => buildUserData({ brokerUrl: `https://x/${big}/${big}/${big}/${big}`, enrolToken: token, bundle }), { message: /EC2 allows 16384/ });
});
