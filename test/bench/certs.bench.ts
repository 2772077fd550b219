// Certificates signed per second by one broker process (one core): CSR parsed and its signature checked,
// certificate built and signed, PEM out. Baseline: everything in node-forge (JS RSA). Chosen: forge lays out
// the certificate, Node's native crypto checks the CSR and signs. The CSR pool is made before timing.
import { createCa, loadCaSigner } from '../../broker/pki/ca.js';
import type { CaSigner } from '../../broker/pki/ca.js';
import { createKeyAndCsr } from '../../broker/api/csr.js';
import { signCsr, signCsrForgeOnly } from '../../broker/pki/sign.js';
import type { SignCsrRequest, SignedCertificate } from '../../broker/pki/sign.js';

const POOL_SIZE = 32;
type Signer = (signer: CaSigner, request: SignCsrRequest) => SignedCertificate;

function rate(sign: Signer, signer: CaSigner, pool: string[], seconds: number): number {
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < deadline) {
    const csrPem = pool[n % pool.length] ?? '';
    sign(signer, { csrPem, profile: 'node', commonName: `worker-${n}`, sans: { ips: ['10.0.1.5', '54.1.2.3'], dns: ['ip-10-0-1-5.ec2.internal'] }, validityMs: 12 * 3600_000 });
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const signer = loadCaSigner(await createCa({ clusterId: 'bench', validityMs: 24 * 3600_000 }));
const pool = await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => createKeyAndCsr({ commonName: `m${i}` })));
const csrs = pool.map((p) => p.csrPem);

// Warm both paths (JIT, forge's lazily converted CA key) outside the timed part.
rate(signCsrForgeOnly, signer, csrs, 0.5);
rate(signCsr, signer, csrs, 0.5);

const forgeOnly = rate(signCsrForgeOnly, signer, csrs, 8);
const native = rate(signCsr, signer, csrs, 8);
process.stdout.write(
  `certs signed/s: forge-only ${forgeOnly.toFixed(0)}/s, forge+native ${native.toFixed(0)}/s (${(native / forgeOnly).toFixed(1)}x)\n`,
);
