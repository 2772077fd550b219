// Signing CSRs with a cluster CA: the certificates must be ones OpenSSL and Node accept, carry the names the
// broker chose, and nothing a CSR tried to smuggle in.
import { execFile } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import t from 'tap';
import { createCa, loadCaSigner } from '../../../../broker/pki/ca.js';
import { createKeyAndCsr } from '../../../../broker/api/csr.js';
import { inspectCertificate, signCsr, signCsrForgeOnly } from '../../../../broker/pki/sign.js';
import type { SignCsrRequest } from '../../../../broker/pki/sign.js';

const execFileAsync = promisify(execFile);
const OPENSSL = '/usr/bin/openssl';

const caA = await createCa({ clusterId: 'cl-a', validityMs: 24 * 3600_000 });
const caB = await createCa({ clusterId: 'cl-b', validityMs: 24 * 3600_000 });
const signerA = loadCaSigner(caA);
const signerB = loadCaSigner(caB);
const { csrPem } = await createKeyAndCsr({ commonName: 'requested-by-agent' });

function request(overrides: Partial<SignCsrRequest> = {}): SignCsrRequest {
  return {
    csrPem,
    profile: 'node',
    commonName: 'worker-1',
    sans: { ips: ['10.0.1.5', '54.1.2.3'], dns: ['ip-10-0-1-5.ec2.internal'] },
    validityMs: 3600_000,
    ...overrides,
  };
}

/** Runs `openssl verify`; resolves to its combined output and whether it accepted the chain. */
async function opensslVerify(dir: string, caPem: string, certPem: string, purpose?: string): Promise<{ ok: boolean; output: string }> {
  writeFileSync(join(dir, 'ca.pem'), caPem);
  writeFileSync(join(dir, 'cert.pem'), certPem);
  const args = ['verify', '-CAfile', join(dir, 'ca.pem'), ...(purpose === undefined ? [] : ['-purpose', purpose]), join(dir, 'cert.pem')];
  try {
    const { stdout, stderr } = await execFileAsync(OPENSSL, args, { timeout: 30_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A CSR made with forge and a key of our choosing, optionally asking for SANs of its own. */
function forgeCsr(bits: number, opts: { cn?: string; sanDns?: string } = {}): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  csr.setSubject([{ name: 'commonName', value: opts.cn ?? 'x' }]);
  if (opts.sanDns !== undefined) {
    csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: opts.sanDns }] }] }]);
  }
  csr.sign(key, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

void t.test('a node certificate is valid for TLS server and client use, with the broker-chosen SANs', async (t) => {
  const { certPem } = signCsr(signerA, request());
  const info = inspectCertificate(certPem);
  t.same(info.ekus.sort(), ['clientAuth', 'serverAuth']);
  t.same(info.sans, { ips: ['10.0.1.5', '54.1.2.3'], dns: ['ip-10-0-1-5.ec2.internal'] });
  t.equal(info.issuerCn, 'skiff cluster cl-a CA');
  const dir = t.testdir({});
  t.ok((await opensslVerify(dir, caA.certPem, certPem, 'sslserver')).ok, 'openssl accepts it as a TLS server certificate');
  t.ok((await opensslVerify(dir, caA.certPem, certPem, 'sslclient')).ok, 'openssl accepts it as a TLS client certificate');
});

void t.test('a user certificate is good for TLS client use only', async (t) => {
  const { certPem } = signCsr(signerA, request({ profile: 'user', commonName: 'alice', sans: { ips: [], dns: [] } }));
  const info = inspectCertificate(certPem);
  t.same(info.ekus, ['clientAuth']);
  t.same(info.sans, { ips: [], dns: [] });
  const dir = t.testdir({});
  t.ok((await opensslVerify(dir, caA.certPem, certPem, 'sslclient')).ok, 'accepted as a client certificate');
  const asServer = await opensslVerify(dir, caA.certPem, certPem, 'sslserver');
  t.notOk(asServer.ok, 'refused as a server certificate');
  t.match(asServer.output, /(unsuitable|unsupported) certificate purpose/);
});

void t.test('the subject names the holder (O = cluster, OU = role) as the broker says, whatever the CSR asked', (t) => {
  const posing = forgeCsr(2048, { cn: 'worker-9' });
  const worker = new X509Certificate(signCsr(signerA, request({ csrPem: posing, holder: { cluster: 'c0123456789', role: 'worker' } })).certPem);
  t.equal(worker.subject, 'O=c0123456789\nOU=worker\nCN=worker-1');
  const user = new X509Certificate(signCsr(signerA, request({ profile: 'user', commonName: 'user.c0123456789', holder: { cluster: 'c0123456789', role: 'user' } })).certPem);
  t.equal(user.subject, 'O=c0123456789\nOU=user\nCN=user.c0123456789');
  const bad = { code: 'BRK_BAD_REQUEST' };
  t.throws(() => signCsr(signerA, request({ holder: { cluster: 'c0123456789', role: 'user' } })), { ...bad, message: /a user certificate takes the user profile/ });
  t.throws(() => signCsr(signerA, request({ profile: 'user', holder: { cluster: 'c0123456789', role: 'worker' } })), { ...bad, message: /a worker certificate takes the node profile/ });
  t.throws(() => signCsr(signerA, request({ holder: { cluster: 'C/0=x', role: 'worker' } })), { ...bad, message: /certificate holder must be/ });
  t.end();
});

void t.test('the subject CN comes from the broker and SANs requested in the CSR are ignored', (t) => {
  const smuggling = forgeCsr(2048, { cn: 'admin', sanDns: 'evil.example.com' });
  const { certPem } = signCsr(signerA, request({ csrPem: smuggling, commonName: 'worker-7', sans: { ips: ['10.0.0.7'], dns: [] } }));
  const info = inspectCertificate(certPem);
  t.equal(info.subjectCn, 'worker-7');
  t.same(info.sans, { ips: ['10.0.0.7'], dns: [] });
  t.notMatch(certPem, /evil/);
  t.end();
});

void t.test('the certificate carries the CSR public key, CA:false and key identifiers linking it to the CA', (t) => {
  const { certPem } = signCsr(signerA, request());
  const x509 = new X509Certificate(certPem);
  t.equal(x509.ca, false);
  t.ok(x509.verify(signerA.publicKey), 'Node verifies the signature with the CA public key');
  t.ok(x509.checkIssued(new X509Certificate(caA.certPem)), 'Node sees the CA as its issuer');
  const csrKey = forge.pki.certificationRequestFromPem(csrPem).publicKey as forge.pki.rsa.PublicKey;
  const certKey = forge.pki.certificateFromPem(certPem).publicKey as forge.pki.rsa.PublicKey;
  t.equal(certKey.n.toString(16), csrKey.n.toString(16));
  t.end();
});

void t.test('openssl shows keyUsage, basicConstraints and matching authority/subject key identifiers', async (t) => {
  const { certPem } = signCsr(signerA, request());
  const dir = t.testdir({ 'cert.pem': certPem, 'ca.pem': caA.certPem });
  const { stdout: leaf } = await execFileAsync(OPENSSL, ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], { timeout: 30_000 });
  const { stdout: ca } = await execFileAsync(OPENSSL, ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-text'], { timeout: 30_000 });
  t.match(leaf, /Basic Constraints: critical\s+CA:FALSE/);
  t.match(leaf, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
  const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(leaf)?.[1];
  const caSki = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(ca)?.[1];
  t.ok(aki, 'leaf has an authority key identifier');
  t.equal(aki, caSki, "leaf's authority key id is the CA's subject key id");
  t.match(leaf, /Subject Key Identifier:\s+[0-9A-F:]+/);
});

void t.test('a certificate from cluster A does not verify against cluster B', async (t) => {
  const { certPem } = signCsr(signerA, request());
  t.equal(new X509Certificate(certPem).verify(signerB.publicKey), false);
  const result = await opensslVerify(t.testdir({}), caB.certPem, certPem);
  t.notOk(result.ok);
  t.match(result.output, /unable to get local issuer certificate/);
});

void t.test('notAfter is now plus the validity, and notBefore is backdated 60 s for clock skew', (t) => {
  const now = new Date('2031-03-04T05:06:07.890Z');
  const signed = signCsr(signerA, request({ validityMs: 2 * 3600_000, now: () => now }));
  const info = inspectCertificate(signed.certPem, () => now);
  t.equal(info.notAfter.toISOString(), '2031-03-04T07:06:07.000Z');
  t.equal(signed.notAfter.toISOString(), '2031-03-04T07:06:07.000Z', 'the returned notAfter is the one in the certificate');
  t.equal(info.notBefore.toISOString(), '2031-03-04T05:05:07.000Z');
  t.equal(info.expired, false);
  t.equal(inspectCertificate(signed.certPem, () => new Date('2031-03-04T07:06:08Z')).expired, true, 'expired one second after notAfter');
  t.end();
});

void t.test('a certificate with notBefore in the past and a short validity inspects as expired and openssl refuses it', async (t) => {
  const signed = signCsr(signerA, request({ notBefore: new Date('2024-01-01T00:00:00Z'), validityMs: 60_000 }));
  t.equal(signed.notAfter.toISOString(), '2024-01-01T00:01:00.000Z');
  const info = inspectCertificate(signed.certPem);
  t.equal(info.expired, true);
  t.equal(info.notBefore.toISOString(), '2024-01-01T00:00:00.000Z');
  const result = await opensslVerify(t.testdir({}), caA.certPem, signed.certPem);
  t.notOk(result.ok);
  t.match(result.output, /certificate has expired/);
});

void t.test('serials are random 128-bit values unless the broker gives one', (t) => {
  const a = signCsr(signerA, request());
  const b = signCsr(signerA, request());
  t.not(a.serialHex, b.serialHex);
  t.match(a.serialHex, /^[0-7][0-9a-f]{31}$/);
  t.equal(inspectCertificate(a.certPem).serialHex, a.serialHex);
  const fixed = signCsr(signerA, request({ serialHex: '0badc0ffee' }));
  t.equal(fixed.serialHex, '0badc0ffee');
  t.equal(inspectCertificate(fixed.certPem).serialHex, '0badc0ffee');
  t.end();
});

void t.test('a CSR made by openssl req is accepted', async (t) => {
  const dir = t.testdir({});
  await execFileAsync(
    OPENSSL,
    ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=from-openssl', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.pem')],
    { timeout: 60_000 },
  );
  const { certPem } = signCsr(signerA, request({ csrPem: readFileSync(join(dir, 'r.pem'), 'utf8') }));
  t.ok((await opensslVerify(dir, caA.certPem, certPem)).ok);
});

function refusedAsBadCsr(tt: Pick<typeof t, 'throws'>, pem: string, why: RegExp): void {
  tt.throws(
    () => signCsr(signerA, request({ csrPem: pem })),
    { code: 'BRK_BAD_CSR', message: why },
    `refused: ${why.source}`,
  );
}

void t.test('a CSR whose signature does not match its key is refused with BRK_BAD_CSR', (t) => {
  const der = Buffer.from(forge.util.decode64(csrPem.replace(/-----[^-]+-----|\s/g, '')), 'binary');
  der[der.length - 10] = (der[der.length - 10] ?? 0) ^ 0xff; // inside the signature BIT STRING
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  refusedAsBadCsr(t, tampered, /signature does not match/);
  t.throws(() => signCsrForgeOnly(signerA, request({ csrPem: tampered })), { code: 'BRK_BAD_CSR' }, 'the forge baseline refuses it too');
  t.end();
});

void t.test('garbage instead of a CSR is refused with BRK_BAD_CSR', (t) => {
  refusedAsBadCsr(t, 'hello', /not a well-formed/);
  refusedAsBadCsr(t, '', /empty/);
  refusedAsBadCsr(t, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', /not a well-formed/);
  refusedAsBadCsr(t, caA.certPem, /not a well-formed/);
  refusedAsBadCsr(t, 'A'.repeat(20_000), /more than/);
  t.end();
});

void t.test('a CSR for a 1024-bit RSA key is refused with BRK_BAD_CSR', (t) => {
  refusedAsBadCsr(t, forgeCsr(1024), /1024 bits, fewer than 2048/);
  t.end();
});

void t.test('a CSR for an EC key is refused with BRK_BAD_CSR', async (t) => {
  const dir = t.testdir({});
  await execFileAsync(
    OPENSSL,
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=ec', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'r.pem')],
    { timeout: 60_000 },
  );
  refusedAsBadCsr(t, readFileSync(join(dir, 'r.pem'), 'utf8'), /RSA/);
});

void t.test('invalid SANs, names and validity are refused before anything is signed', (t) => {
  const badRequest = { code: 'BRK_BAD_REQUEST' };
  t.throws(() => signCsr(signerA, request({ sans: { ips: ['not-an-ip'], dns: [] } })), badRequest);
  t.throws(() => signCsr(signerA, request({ sans: { ips: [], dns: ['bad name!'] } })), badRequest);
  t.throws(() => signCsr(signerA, request({ commonName: '' })), badRequest);
  t.throws(() => signCsr(signerA, request({ validityMs: 0 })), badRequest);
  t.throws(() => signCsr(signerA, request({ serialHex: 'ff' })), badRequest, 'a negative serial is refused');
  t.end();
});

void t.test('the forge-only baseline produces the same certificate, byte for byte', (t) => {
  const now = new Date('2031-01-01T00:00:00Z');
  const native = signCsr(signerA, request({ serialHex: '01', now: () => now }));
  const forgeOnly = signCsrForgeOnly(signerA, request({ serialHex: '01', now: () => now }));
  t.equal(forgeOnly.certPem, native.certPem, 'byte-identical: RSA PKCS#1 v1.5 signatures are deterministic');
  t.ok(new X509Certificate(forgeOnly.certPem).verify(signerA.publicKey));
  t.end();
});
