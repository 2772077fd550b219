import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildUserData, DEFAULT_NODE_RUNTIME, MAX_USER_DATA_BYTES, type UserDataInput } from '../../../../provisioner/plan/user-data.js';
import { tlsFixtures } from '../../../helpers/tls-fixtures.js';

const bundle = { path: '/v1/agent/bundle', sha256: 'ab'.repeat(32), entry: 'agent/main.js' };
const token = 'eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJlbnJvbCJ9.c2lnbmF0dXJl';
const FIXTURES = fileURLToPath(new URL('../../../fixtures/boot/', import.meta.url));
const tls = tlsFixtures();

t.test('carries the broker URL, the enrol token and the pinned bundle checksum', async (t) => {
  const s = buildUserData({ brokerUrl: 'https://broker.example.com:8443', enrolToken: token, bundle });
  t.match(s, /^#!\/bin\/bash\n/);
  t.match(s, "SKIFF_BROKER_URL='https://broker.example.com:8443'");
  t.match(s, `SKIFF_ENROL_TOKEN='${token}'`);
  t.match(s, `BUNDLE_SHA256='${bundle.sha256}'`);
  t.match(s, /sha256sum -c -/);
  t.match(s, /Restart=always/);
  t.match(s, /RestartSec=5/);
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

t.test('pins the official Node.js 20.20.0 tarball checksums of both architectures', async (t) => {
  const s = buildUserData({ brokerUrl: 'https://x', enrolToken: token, bundle });
  t.match(s, "NODE_VERSION='20.20.0'");
  t.match(s, `NODE_SHA256_X64='${DEFAULT_NODE_RUNTIME.sha256['linux-x64']}'`);
  t.match(s, `NODE_SHA256_ARM64='${DEFAULT_NODE_RUNTIME.sha256['linux-arm64']}'`);
  t.throws(() => buildUserData({ brokerUrl: 'https://x', enrolToken: token, bundle, node: { version: '20.1.0', sha256: { 'linux-x64': 'ab'.repeat(32), 'linux-arm64': 'nope' } } }), {
    message: /linux-x64 and linux-arm64/,
  });
});

t.test('pins a broker CA certificate and refuses anything but certificate PEM', async (t) => {
  const lf = tls.daskCa.certPem.replace(/\r\n/g, '\n');
  const s = buildUserData({ brokerUrl: 'https://x', enrolToken: token, bundle, brokerCaPem: lf.replace(/\n/g, '\r\n') });
  t.match(s, `BROKER_CA_PEM='${lf.trim()}'`, 'LF line ends, inside single quotes');
  t.notMatch(s, /PRIVATE KEY/);
  const bad = (brokerCaPem: string) => () => buildUserData({ brokerUrl: 'https://x', enrolToken: token, bundle, brokerCaPem });
  t.throws(bad(tls.daskCa.keyPem), { code: 'PRV_INVALID_REQUEST', message: /CERTIFICATE blocks only/ }, 'a key is refused');
  t.throws(bad(tls.daskCa.certPem.replace('MII', "MII'")), { message: /CERTIFICATE blocks only/ }, 'a quote is refused');
  t.throws(bad('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), { message: /not a readable X.509 certificate/ });
});

t.test('passes shellcheck with and without a broker CA', async (t) => {
  for (const brokerCaPem of [undefined, tls.daskCa.certPem]) {
    const script = buildUserData({ brokerUrl: 'https://broker.example.com:8443', enrolToken: token, bundle, ...(brokerCaPem ? { brokerCaPem } : {}) });
    const r = spawnSync('/usr/bin/shellcheck', ['--shell=bash', '--severity=style', '-'], { input: script, encoding: 'utf8', timeout: 60_000 });
    t.equal(r.error, undefined, 'shellcheck ran');
    t.equal(r.status, 0, r.stdout || 'shellcheck is clean');
  }
});

// ---- The script run for real under bash: its functions sourced, paths in a temp dir, tools stood in. ----

interface Recorded { method: string; url: string; headers: IncomingMessage['headers']; body: string }

async function startServer(t: Test, routes: Record<string, (req: IncomingMessage, body: string) => { status?: number; body: string | Buffer }>, https = false): Promise<{ url: string; seen: Recorded[] }> {
  const seen: Recorded[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const route = routes[`${req.method} ${req.url}`];
      const out = route ? route(req, body) : { status: 404, body: 'not found' };
      res.writeHead(out.status ?? 200).end(out.body);
    });
  };
  const server = https ? createHttpsServer({ key: tls.daskServer.keyPem, cert: tls.daskServer.certPem }, handler) : createHttpServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `${https ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const REAL_TOOLS = ['mkdir', 'tee', 'dirname', 'basename', 'readlink', 'cat', 'chmod', 'rm', 'tail', 'head', 'sed', 'sleep', 'sha256sum', 'tar', 'xz', 'gzip', 'curl', 'ln', 'base64', 'tr'];

interface Machine {
  dir: string;
  bin: string;
  /** Adds a tool to PATH: 'standin' (played from the plan), 'node-standin', or the path of a real binary. */
  tool(name: string, kind: string): void;
  plan: string[];
  /** Runs main() of the real script; `prelude` is bash run just before it. */
  boot(input: Omit<UserDataInput, 'bundle'> & { bundle?: UserDataInput['bundle'] }, vars: Record<string, string>, prelude?: string): Promise<{ code: number | null; output: string }>;
  calls(): string[];
}

function machine(t: Test): Machine {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-ud-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const which = (name: string) => spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  for (const name of REAL_TOOLS) symlinkSync(which(name), join(bin, name));
  const m: Machine = {
    dir,
    bin,
    plan: ['systemctl|*||0|', 'shutdown|*||0|', 'uname|-m|uname/x86_64.txt|0|'],
    tool(name, kind) {
      rmSync(join(bin, name), { force: true });
      if (kind === 'standin' || kind === 'node-standin') symlinkSync(join(FIXTURES, 'bin', kind), join(bin, name));
      else symlinkSync(kind, join(bin, name));
    },
    async boot(input, vars, prelude) {
      const script = buildUserData({ bundle, ...input });
      const lines = script.trimEnd().split('\n');
      t.equal(lines.at(-1), 'main', 'the script ends by calling main');
      writeFileSync(join(dir, 'functions.sh'), lines.slice(0, -1).join('\n') + '\n');
      writeFileSync(join(dir, 'plan'), m.plan.join('\n') + '\n');
      const root = join(dir, 'root');
      const assign = {
        BOOT_LOG: join(root, 'var/log/skiff-bootstrap.log'), INSTALL_DIR: join(root, 'opt/skiff'), ETC_DIR: join(root, 'etc/skiff'),
        UNIT_DIR: join(root, 'etc/systemd/system'), TMP_DIR: join(root, 'tmp'), ...vars,
      };
      mkdirSync(assign.TMP_DIR, { recursive: true });
      const driver = [`source ${join(dir, 'functions.sh')}`, ...Object.entries(assign).map(([k, v]) => `${k}='${v}'`), prelude ?? '', 'main'];
      writeFileSync(join(dir, 'driver.sh'), driver.join('\n') + '\n');
      const child = spawn('/bin/bash', [join(dir, 'driver.sh')], {
        env: { PATH: bin, STANDIN_PLAN: join(dir, 'plan'), STANDIN_LOG: join(dir, 'calls'), HOME: dir, TMPDIR: assign.TMP_DIR },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      return { code, output };
    },
    calls: () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []),
  };
  for (const name of ['systemctl', 'shutdown', 'uname']) m.tool(name, 'standin');
  return m;
}

/** As IMDS serves it: pretty-printed JSON over several lines. */
const IDENTITY_DOCUMENT = '{\n  "accountId" : "123456789012",\n  "instanceId" : "i-0123456789abcdef0",\n  "region" : "us-east-1"\n}';

/** IMDS (token, instance id, identity document), a broker serving the bundle and taking boot-failure reports, nodejs.org. */
async function world(t: Test, o: { https?: boolean; bundleBytes?: Buffer; nodeTarball?: Buffer } = {}) {
  const imds = await startServer(t, {
    'PUT /latest/api/token': () => ({ body: 'imds-token' }),
    'GET /latest/meta-data/instance-id': (req) => (req.headers['x-aws-ec2-metadata-token'] === 'imds-token' ? { body: 'i-0123456789abcdef0' } : { status: 401, body: '' }),
    'GET /latest/dynamic/instance-identity/document': (req) => (req.headers['x-aws-ec2-metadata-token'] === 'imds-token' ? { body: IDENTITY_DOCUMENT } : { status: 401, body: '' }),
    'GET /latest/dynamic/instance-identity/signature': (req) => (req.headers['x-aws-ec2-metadata-token'] === 'imds-token' ? { body: 'c2lnbmF0dXJl\nb2YgdGhlIGRvY3VtZW50\n' } : { status: 401, body: '' }),
    ...(o.nodeTarball ? { 'GET /dist/v20.20.0/node-v20.20.0-linux-x64.tar.xz': () => ({ body: o.nodeTarball! }) } : {}),
  });
  const broker = await startServer(t, {
    'GET /v1/agent/bundle': () => ({ body: o.bundleBytes ?? Buffer.from('not the bundle') }),
    'POST /v1/boot/failed': () => ({ status: 204, body: '' }),
  }, o.https);
  return { imds, broker, vars: { IMDS: `${imds.url}/latest`, NODE_DIST: `${imds.url}/dist` } };
}

function tarball(t: Test, files: Record<string, { from: string; mode?: number }>, flags: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-tar-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, f] of Object.entries(files)) {
    mkdirSync(join(dir, 'src', path, '..'), { recursive: true });
    copyFileSync(f.from, join(dir, 'src', path));
  }
  // Entries named as the real archives name them: node-v20.20.0-linux-x64/bin/node, agent/main.js.
  const top = [...new Set(Object.keys(files).map((p) => p.split('/')[0]!))];
  spawnSync('tar', [flags, join(dir, 'out'), '-C', join(dir, 'src'), ...top], { stdio: 'inherit' });
  return readFileSync(join(dir, 'out'));
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const failures = (seen: Recorded[]) => seen.filter((r) => r.method === 'POST' && r.url === '/v1/boot/failed');

t.test('a failed step reports the step and the last 40 boot-log lines to the broker, then shuts the machine down', async (t) => {
  const m = machine(t);
  m.tool('node', process.execPath);
  const w = await world(t); // the bundle served does not match its pinned checksum
  // 60 lines already in the log, so only the last 40 of all go to the broker.
  const r = await m.boot({ brokerUrl: w.broker.url, enrolToken: token }, w.vars, 'mkdir -p "$(dirname "$BOOT_LOG")"; for i in {1..60}; do echo "earlier line $i"; done > "$BOOT_LOG"');
  t.not(r.code, 0, 'the script exits non-zero');
  const [report, ...more] = failures(w.broker.seen);
  t.equal(more.length, 0, 'reported once');
  t.ok(report, 'reported');
  t.equal(report!.headers['authorization'], `Bearer ${token}`);
  t.equal(report!.headers['x-skiff-machine-id'], 'i-0123456789abcdef0');
  t.equal(report!.headers['x-skiff-step'], 'bundle');
  t.equal(Buffer.from(String(report!.headers['x-skiff-identity-document']), 'base64').toString('utf8'), IDENTITY_DOCUMENT, 'the identity document, exactly as IMDS served it');
  t.equal(report!.headers['x-skiff-identity-signature'], 'c2lnbmF0dXJlb2YgdGhlIGRvY3VtZW50', 'and its signature on one line');
  t.match(report!.headers['content-type'], /^text\/plain/);
  const lines = report!.body.trimEnd().split('\n');
  t.equal(lines.length, 40, 'the last 40 lines');
  t.match(lines.join('\n'), /sha256sum: WARNING: 1 computed checksum did NOT match/);
  t.match(lines.at(-1), /step bundle failed \(exit 1\)/);
  t.same(m.calls().filter((c) => c.startsWith('shutdown')), ['shutdown -h now']);
  t.same(m.calls().filter((c) => c.startsWith('systemctl')), [], 'no agent was started');
});

t.test('a failed instance-id lookup sends no report: without the identity document the broker would not believe it', async (t) => {
  const m = machine(t);
  m.tool('node', process.execPath);
  const w = await world(t);
  const r = await m.boot({ brokerUrl: w.broker.url, enrolToken: token }, { ...w.vars, IMDS: `${w.imds.url}/nothing-here` });
  t.not(r.code, 0);
  t.same(failures(w.broker.seen), [], 'nothing sent with the enrol token alone');
  t.match(r.output, /no instance identity from IMDS: the broker cannot be told/);
  t.same(m.calls().filter((c) => c.startsWith('shutdown')), ['shutdown -h now'], 'the machine still shuts down');
});

t.test('boots with the node on PATH: bundle checked and unpacked, agent under systemd with Restart=always', async (t) => {
  const m = machine(t);
  m.tool('node', process.execPath);
  const agentBundle = tarball(t, { 'agent/main.js': { from: join(FIXTURES, 'bin', 'node-standin') } }, '-czf');
  const w = await world(t, { bundleBytes: agentBundle });
  const r = await m.boot({ brokerUrl: w.broker.url, enrolToken: token, bundle: { ...bundle, sha256: sha256(agentBundle) } }, w.vars);
  t.equal(r.code, 0, r.output);
  t.same(failures(w.broker.seen), [], 'nothing reported');
  const root = join(m.dir, 'root');
  t.ok(existsSync(join(root, 'opt/skiff/agent/agent/main.js')), 'bundle unpacked');
  const unit = readFileSync(join(root, 'etc/systemd/system/skiff-agent.service'), 'utf8');
  t.match(unit, `ExecStart=${join(m.bin, 'node')} ${join(root, 'opt/skiff/agent/agent/main.js')}`);
  t.match(unit, /\nRestart=always\nRestartSec=5\n/);
  const env = readFileSync(join(root, 'etc/skiff/agent.env'), 'utf8');
  t.match(env, `SKIFF_MACHINE_ID=i-0123456789abcdef0\n`);
  t.match(env, `SKIFF_ENROL_TOKEN=${token}\n`);
  t.match(env, `SKIFF_BOOT_LOG=${join(root, 'var/log/skiff-bootstrap.log')}\n`);
  t.notMatch(env, /NODE_EXTRA_CA_CERTS|SKIFF_BROKER_CA_FILE/);
  t.same(m.calls().filter((c) => c.startsWith('systemctl')), ['systemctl daemon-reload', 'systemctl enable --now skiff-agent.service']);
  const log = readFileSync(join(root, 'var/log/skiff-bootstrap.log'), 'utf8');
  t.match(log, /step metadata\n[^]*step node\n[^]*step bundle\n[^]*step agent\n[^]*agent started/);
});

t.test('a broker with a private CA: every broker call and the agent trust the pinned CA', async (t) => {
  const m = machine(t);
  m.tool('node', process.execPath);
  const agentBundle = tarball(t, { 'agent/main.js': { from: join(FIXTURES, 'bin', 'node-standin') } }, '-czf');
  const w = await world(t, { https: true, bundleBytes: agentBundle });
  const input = { brokerUrl: w.broker.url, enrolToken: token, brokerCaPem: tls.daskCa.certPem };
  const ok = await m.boot({ ...input, bundle: { ...bundle, sha256: sha256(agentBundle) } }, w.vars);
  t.equal(ok.code, 0, ok.output);
  const root = join(m.dir, 'root');
  t.equal(readFileSync(join(root, 'etc/skiff/broker-ca.pem'), 'utf8'), tls.daskCa.certPem.replace(/\r\n/g, '\n'));
  t.match(readFileSync(join(root, 'etc/skiff/agent.env'), 'utf8'), `SKIFF_BROKER_CA_FILE=${join(root, 'etc/skiff/broker-ca.pem')}\n`);

  const m2 = machine(t);
  m2.tool('node', process.execPath);
  const failed = await m2.boot({ ...input, bundle }, w.vars); // checksum mismatch: the report goes over TLS too
  t.not(failed.code, 0);
  t.equal(failures(w.broker.seen).length, 1, 'the failure report reached the HTTPS broker');
});

t.test('on a dnf machine that only has nodejs20 it installs that and runs its node-20', async (t) => {
  const m = machine(t);
  m.tool('dnf', 'standin');
  const agentBundle = tarball(t, { 'agent/main.js': { from: join(FIXTURES, 'bin', 'node-standin') } }, '-czf');
  const w = await world(t, { bundleBytes: agentBundle });
  m.plan.push(
    'dnf|-q info nodejs20|dnf/info-nodejs20.txt|0|',
    'dnf|-q info *|dnf/info-no-match.txt|1|',
    `dnf|install -y -q nodejs20|dnf/install-python3.11.txt|0|link:${join(FIXTURES, 'bin', 'node-standin')}:${join(m.bin, 'node-20')}`,
  );
  const r = await m.boot({ brokerUrl: w.broker.url, enrolToken: token, bundle: { ...bundle, sha256: sha256(agentBundle) } }, w.vars);
  t.equal(r.code, 0, r.output);
  t.same(m.calls().filter((c) => c.startsWith('dnf')), ['dnf -q info nodejs20', 'dnf install -y -q nodejs20']);
  t.match(readFileSync(join(m.dir, 'root/etc/systemd/system/skiff-agent.service'), 'utf8'), `ExecStart=${join(m.bin, 'node-20')} `);
});

t.test('a dnf probe that fails does not kill the script: it falls through to the next choice', async (t) => {
  const m = machine(t);
  m.tool('dnf', 'standin');
  m.tool('uname', 'standin');
  const w = await world(t);
  m.plan.push('dnf|-q info *|dnf/info-no-match.txt|1|');
  m.plan.splice(m.plan.indexOf('uname|-m|uname/x86_64.txt|0|'), 1, 'uname|-m|uname/riscv64.txt|0|');
  const r = await m.boot({ brokerUrl: w.broker.url, enrolToken: token }, w.vars);
  t.not(r.code, 0);
  t.same(m.calls().filter((c) => c.startsWith('dnf')), ['dnf -q info nodejs20', 'dnf -q info nodejs'], 'both packages were asked about');
  const [report] = failures(w.broker.seen);
  t.equal(report?.headers['x-skiff-step'], 'node', 'Node unobtainable is reported as the node step');
  t.match(report?.body, /no official Node.js tarball for riscv64/);
  t.match(report?.body, /no Node.js 20 or newer/);
});

t.test('on Debian 12, whose nodejs is 18, it installs the official tarball after checking its pinned checksum', async (t) => {
  const node = tarball(t, { 'node-v20.20.0-linux-x64/bin/node': { from: join(FIXTURES, 'bin', 'node-standin') } }, '-cJf');
  const agentBundle = tarball(t, { 'agent/main.js': { from: join(FIXTURES, 'bin', 'node-standin') } }, '-czf');
  const w = await world(t, { nodeTarball: node, bundleBytes: agentBundle });
  const debian = (m: Machine) => {
    m.tool('apt-get', 'standin');
    m.tool('apt-cache', 'standin');
    m.plan.push('apt-get|update *|apt/update.txt|0|', 'apt-cache|policy nodejs|apt/policy-nodejs-debian12.txt|0|');
  };
  const good = machine(t);
  debian(good);
  const r = await good.boot(
    { brokerUrl: w.broker.url, enrolToken: token, bundle: { ...bundle, sha256: sha256(agentBundle) }, node: { version: '20.20.0', sha256: { ...DEFAULT_NODE_RUNTIME.sha256, 'linux-x64': sha256(node) } } },
    w.vars,
  );
  t.equal(r.code, 0, r.output);
  t.notOk(good.calls().some((c) => c.startsWith('apt-get install')), 'apt\'s nodejs 18 is not installed');
  t.match(readFileSync(join(good.dir, 'root/etc/systemd/system/skiff-agent.service'), 'utf8'), `ExecStart=${join(good.dir, 'root/opt/skiff/node/bin/node')} `);

  const bad = machine(t);
  debian(bad);
  const mismatch = await bad.boot({ brokerUrl: w.broker.url, enrolToken: token }, w.vars); // the real pinned checksum
  t.not(mismatch.code, 0);
  const [report] = failures(w.broker.seen);
  t.equal(report?.headers['x-skiff-step'], 'node');
  t.match(report?.body, /node-v20.20.0-linux-x64.tar.xz: FAILED/);
});

t.test('on an apt machine whose candidate is 20 it installs the distribution package', async (t) => {
  const m = machine(t);
  m.tool('apt-get', 'standin');
  m.tool('apt-cache', 'standin');
  const agentBundle = tarball(t, { 'agent/main.js': { from: join(FIXTURES, 'bin', 'node-standin') } }, '-czf');
  const w = await world(t, { bundleBytes: agentBundle });
  m.plan.push(
    'apt-get|update *|apt/update.txt|0|',
    'apt-cache|policy nodejs|apt/policy-nodejs-nodesource.txt|0|',
    `apt-get|install -y -q -o DPkg::Lock::Timeout=300 nodejs|apt/install-after-lock-wait.txt|0|link:${join(FIXTURES, 'bin', 'node-standin')}:${join(m.bin, 'node')}`,
  );
  const r = await m.boot({ brokerUrl: w.broker.url, enrolToken: token, bundle: { ...bundle, sha256: sha256(agentBundle) } }, w.vars);
  t.equal(r.code, 0, r.output);
  t.ok(m.calls().includes('apt-get install -y -q -o DPkg::Lock::Timeout=300 nodejs'));
  t.match(readFileSync(join(m.dir, 'root/etc/systemd/system/skiff-agent.service'), 'utf8'), `ExecStart=${join(m.bin, 'node')} `);
});
