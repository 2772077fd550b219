// Client credentials for a cluster: the key pair is made here and the private key never leaves this
// machine; the broker only sees a CSR (with the user token) and answers with a certificate.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createKeyAndCsr } from '../api/csr.js';
import type { CredentialsResponse } from '../api/wire.js';
import type { BrokerApi } from './connect.js';

export interface CredentialFiles {
  ca: string;
  cert: string;
  key: string;
}

function writeAtomic(path: string, data: string, mode: number): void {
  writeFileSync(`${path}.tmp`, data, { mode });
  renameSync(`${path}.tmp`, path);
}

export async function fetchCredentials(api: BrokerApi, ref: string, outDir: string): Promise<CredentialFiles> {
  const dir = resolve(outDir);
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'skiff user' });
  const res = await api.call<CredentialsResponse>('POST', `/v1/clusters/${encodeURIComponent(ref)}/credentials`, { csrPem });
  // Only now, with a certificate in hand: a refused request leaves nothing behind.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem') };
  writeAtomic(files.key, keyPem, 0o600);
  writeAtomic(files.cert, res.certPem, 0o600);
  writeAtomic(files.ca, res.caPem, 0o600);
  return files;
}

export function pythonSnippet(address: string, f: CredentialFiles): string {
  return [
    'from dask.distributed import Client, Security',
    'security = Security(',
    `    tls_ca_file=${JSON.stringify(f.ca)},`,
    `    tls_client_cert=${JSON.stringify(f.cert)},`,
    `    tls_client_key=${JSON.stringify(f.key)},`,
    '    require_encryption=True,',
    ')',
    `client = Client(${JSON.stringify(address)}, security=security)`,
  ].join('\n');
}
