// The addresses a deployed broker is reached at, for its certificate's SANs: the published URL's host, and from
// IMDSv2 the instance's public IPv4 (the Elastic IP once associated) and private IPv4 (machines in the VPC).
import type { Logger } from 'pino';
import type { ImdsClient } from '../api/imds.js';

export async function brokerAddresses(o: { url: string; imds?: ImdsClient; log: Logger }): Promise<string[]> {
  const host = new URL(o.url).hostname.replace(/^\[(.*)\]$/, '$1');
  const hosts = [host];
  if (o.imds) {
    try {
      const pub = (await o.imds.get('/latest/meta-data/public-ipv4', { optional: true }))?.trim();
      const priv = (await o.imds.get('/latest/meta-data/local-ipv4'))?.trim();
      if (pub) hosts.push(pub);
      if (priv) hosts.push(priv);
      if (pub !== undefined && pub !== host) o.log.warn({ url: o.url, publicIp: pub }, 'the published URL is not this instance\'s public address (is the Elastic IP associated?)');
    } catch (err) {
      // Off EC2 (a broker run by hand) the URL's host is all there is.
      o.log.warn({ err }, 'instance metadata unreachable: the certificate names the published URL\'s host only');
    }
  }
  return [...new Set(hosts)];
}
