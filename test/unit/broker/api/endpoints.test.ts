import t from 'tap';
import { cleartextRefusal, isEmulatorEndpoint, isLoopbackUrl } from '../../../../broker/api/endpoints.js';

t.test('an AWS endpoint is an emulator only on loopback or in a documentation range (RFC 5737)', async (t) => {
  for (const url of ['http://127.0.0.1:5000', 'http://localhost:4566', 'http://[::1]:5000', 'http://198.51.100.1:5000', 'http://192.0.2.7', 'https://203.0.113.9:443']) {
    t.ok(isEmulatorEndpoint(url), `${url}: emulator`);
  }
  for (const url of [undefined, '', 'https://ec2-fips.us-east-1.amazonaws.com', 'https://vpce-0abc.ec2.us-east-1.vpce.amazonaws.com', 'http://10.0.0.5:5000', 'http://198.51.101.1', 'http://127.example.com', 'not a url']) {
    t.notOk(isEmulatorEndpoint(url), `${String(url)}: AWS, with every check`);
  }
});

t.test('plain HTTP is for loopback only; HTTPS anywhere', async (t) => {
  t.equal(cleartextRefusal('http://127.0.0.1:8080'), undefined);
  t.equal(cleartextRefusal('http://[::1]:8080'), undefined);
  t.equal(cleartextRefusal('https://203.0.113.5'), undefined);
  t.match(cleartextRefusal('http://0.0.0.0:8080'), /plain HTTP off this machine/);
  t.match(cleartextRefusal('http://10.1.2.3'), /plain HTTP off this machine.*use https:\/\//);
  t.match(cleartextRefusal('ws://127.0.0.1'), /not a scheme for the broker/);
  t.match(cleartextRefusal('::'), /is not a URL/);
  t.ok(isLoopbackUrl('http://127.1.2.3:9'));
  t.notOk(isLoopbackUrl('http://127.0.0.1.nip.io'));
});
