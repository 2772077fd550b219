// Which addresses may be spoken to in clear, and which AWS endpoint counts as an emulator. One rule for the CLI, the
// broker and the agents: plain HTTP only on loopback (a token or API key sent to any other http:// address crosses a
// network in clear); emulator mode (a loopback broker URL for aws clusters, the tests' identity certificate) only
// for an endpoint on loopback or in the documentation ranges of RFC 5737 (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24: never routed on the internet, which is where the tests' EC2 simulator puts its moto). Any other
// AWS_ENDPOINT_URL (a FIPS or VPC endpoint of real AWS) is AWS, with every check AWS needs.

/** The host of a URL without IPv6 brackets, or undefined when it is not a URL. */
function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function isLoopbackUrl(url: string): boolean {
  const h = hostOf(url);
  return h !== undefined && isLoopbackHost(h);
}

const TEST_NETS = [/^192\.0\.2\.\d{1,3}$/, /^198\.51\.100\.\d{1,3}$/, /^203\.0\.113\.\d{1,3}$/];

/** True for an AWS endpoint that can only be an emulator: on loopback or in an RFC 5737 range. */
export function isEmulatorEndpoint(url: string | undefined): boolean {
  if (url === undefined || url === '') return false;
  const h = hostOf(url);
  return h !== undefined && (isLoopbackHost(h) || TEST_NETS.some((r) => r.test(h)));
}

/** Why `url` may not carry credentials (plain HTTP off loopback), or undefined when it may. */
export function cleartextRefusal(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${JSON.stringify(url.slice(0, 200))} is not a URL`;
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return undefined;
  if (u.protocol === 'http:') return `${u.origin} is plain HTTP off this machine: tokens and keys would cross the network in clear; use https:// (plain HTTP is for 127.0.0.1 only)`;
  return `${u.protocol} is not a scheme for the broker; use https://`;
}
