// `skiff broker --deployed` as a local process against moto (SSM, Secrets Manager, KMS), with an IMDSv2 stand-in
// for its addresses, and the CLI of a home holding nothing but AWS credentials: it finds the broker through the
// workspace's SSM record and talks to it over HTTPS pinned to the published CA. A record naming another CA is
// refused with nothing sent; a broker that is down is one clear error after retries with progress.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { SSMClient } from '@aws-sdk/client-ssm';
import { startMoto } from '../helpers/moto.js';
import { makeHome, SKIFF } from '../helpers/skiff.js';
import { publishWorkspace, startImdsStandin } from '../helpers/deployed.js';
import { until } from '../helpers/wait.js';
import { freeLocalPort } from '../../provisioner/local/ports.js';
import { connectBroker, forgetDeployedBroker, rememberDeployedBroker } from '../../broker/cli/connect.js';
import { createBrokerCa } from '../../broker/deployed/broker-ca.js';

interface LogLine { msg: string; path?: string; method?: string; status?: number; hosts?: string[] }

t.test('the CLI finds the deployed broker in SSM and reaches it through the published CA only', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const port = await freeLocalPort();
  const url = `https://127.0.0.1:${port}`;
  const ws = await publishWorkspace(moto, 'team', url);
  const imds = await startImdsStandin(t, { publicIp: '127.0.0.1', privateIp: '127.0.0.2' });

  const brokerHome = mkdtempSync(join(tmpdir(), 'skiff-deployed-'));
  let broker: ChildProcess | undefined;
  let out = '';
  const logLines = (): LogLine[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
  const stopBroker = async () => {
    const b = broker;
    broker = undefined;
    if (b && b.exitCode === null) {
      const exited = new Promise<void>((r) => b.once('exit', () => r()));
      b.kill('SIGTERM');
      const timer = setTimeout(() => b.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const h = makeHome();
  Object.assign(h.env, moto.env);
  t.teardown(async () => {
    await stopBroker();
    forgetDeployedBroker(h.home);
    await h.cleanup();
    rmSync(brokerHome, { recursive: true, force: true });
  });

  broker = spawn(process.execPath, [SKIFF, 'broker', '--deployed', '--workspace', 'team', '--region', 'us-east-1', '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...h.env, SKIFF_HOME: brokerHome, SKIFF_IMDS_URL: imds.url, AWS_EC2_METADATA_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  broker.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  broker.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  t.ok(await until(() => logLines().some((l) => l.msg === 'broker listening') || broker?.exitCode !== null, 60_000, 100), 'the deployed broker starts');
  t.equal(broker.exitCode, null, `still running:\n${out.slice(-2000)}`);
  t.same(imds.seen, ['PUT /latest/api/token', 'GET /latest/meta-data/public-ipv4', 'GET /latest/meta-data/local-ipv4'], 'it asked IMDSv2 for its addresses');
  t.match(logLines().find((l) => l.msg === 'server certificate issued from the broker CA'), { hosts: ['127.0.0.1', '127.0.0.2'] });

  // What the broker serves: a certificate from the published CA naming its addresses; its key was never written.
  const served = await new Promise<X509Certificate>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: ws.ca.certPem, servername: '' }, () => {
      resolve(new X509Certificate(s.getPeerCertificate().raw));
      s.end();
    });
    s.on('error', reject);
  });
  t.ok(served.verify(new X509Certificate(ws.ca.certPem).publicKey), 'served certificate is issued by the broker CA');
  t.match(served.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.match(served.subjectAltName, /IP Address:127\.0\.0\.2/);
  const files = (readdirSync(brokerHome, { recursive: true }) as string[]).map((f) => join(brokerHome, f)).filter((f) => statSync(f).isFile());
  t.ok(files.length > 0);
  t.same(files.filter((f) => readFileSync(f).includes('PRIVATE KEY')), [], 'no private key (server, token, CA) is written under the broker\'s home');

  // No API key: the deployed broker signs people in as their IAM identity.
  t.notOk(files.some((f) => f.endsWith('api-key')), 'the deployed broker keeps no API key');
  // `up --backend aws`'s path: the record is found in SSM for the workspace and region.
  const api = await connectBroker({
    home: h.home, autoStart: false, deployed: { workspace: 'team', region: 'us-east-1' },
    lookup: { ssm: new SSMClient(moto.clientConfig) },
    aws: { credentialSource: 'test', endpointUrl: moto.endpoint, keys: async () => Promise.resolve(ws.adminKeys) },
  });
  t.equal(api.url, url, 'the URL comes from the SSM record');
  t.same(await api.call('GET', '/v1/clusters'), [], 'a list through the pinned CA');
  const health = await (await api.fetch(new URL('/v1/health', url))).json() as { ok: boolean };
  t.equal(health.ok, true, '/v1/health through the pinned CA');

  // Every later command of a home set up for the workspace: the real CLI, its own credentials (the admin's), cli.json.
  h.env['AWS_ACCESS_KEY_ID'] = ws.adminKeys.accessKeyId;
  h.env['AWS_SECRET_ACCESS_KEY'] = ws.adminKeys.secretAccessKey;
  rememberDeployedBroker(h.home, { workspace: 'team', region: 'us-east-1' });
  const list = await h.run(['list', '--json']);
  t.equal(list.code, 0, list.stderr);
  t.same(JSON.parse(list.stdout), [], 'skiff list reaches the deployed broker');
  t.ok(logLines().some((l) => l.msg === 'request' && l.path === '/v1/clusters' && l.status === 200), 'the broker logged the list');
  t.equal(h.brokerPid(), undefined, 'no local broker was started');

  t.test('a record naming another CA is refused, nothing sent', async (t) => {
    const other = await createBrokerCa({ workspace: 'team' });
    await ws.republish({ ...ws.record, caPem: other.certPem });
    const before = logLines().filter((l) => l.msg === 'request').length;
    const r = await h.run(['list', '--json']);
    t.equal(r.code, 1);
    t.match(r.stderr, /"code":"CLI_BROKER_UNTRUSTED"/);
    t.match(r.stderr, /presented a certificate that the broker CA published in SSM parameter \/skiff\/team\/broker \(us-east-1\) does not vouch for/);
    t.notMatch(r.stderr, /retrying/, 'an untrusted broker is not retried');
    t.ok(await until(() => logLines().some((l) => l.msg === 'TLS handshake failed'), 5000), 'the broker saw the handshake fail');
    t.equal(logLines().filter((l) => l.msg === 'request').length, before, 'and no request');
    await ws.republish(ws.record);
  });

  t.test('a broker that is down: retried with progress, then one clear error', async (t) => {
    await stopBroker();
    const r = await h.run(['list']);
    t.equal(r.code, 1);
    for (let n = 1; n <= 5; n++) t.match(r.stderr, new RegExp(`broker at ${url.replace(/\./g, '\\.')} not answering \\(ECONNREFUSED\\), retrying \\(${n}/5\\)…`));
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('skiff: error:'));
    t.equal(errors.length, 1, 'one error');
    t.match(errors[0], /the deployed broker of workspace team \(us-east-1\) at https:\/\/127\.0\.0\.1:\d+ did not answer in 6 attempts/);
  });
});
