// The workspace's broker CA, made once by `skiff setup aws` (kept in Secrets Manager, published in SSM) and used by
// each broker instance to issue itself a server certificate at boot. RSA 2048, as the cluster CAs.
import { createCa, type CaMaterial } from '../pki/ca.js';

/** Ten years: the CLI and the machines pin this certificate; replacing it means re-running setup. */
export const BROKER_CA_VALIDITY_MS = 10 * 365 * 24 * 3600_000;

export function createBrokerCa(o: { workspace: string; now?: () => Date }): Promise<CaMaterial> {
  return createCa({
    clusterId: `broker-${o.workspace}`, commonName: `skiff broker CA (workspace ${o.workspace})`, validityMs: BROKER_CA_VALIDITY_MS,
    ...(o.now ? { now: o.now } : {}),
  });
}
