// IPv4 CIDR maths for the network plan. Pure. How the VPC block is cut into zone subnets is in zones.ts.

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IP_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function octetsToNumber(parts: string[]): number | undefined {
  let n = 0;
  for (const p of parts) {
    if (p.length > 1 && p.startsWith('0')) return undefined;
    const v = Number(p);
    if (!Number.isInteger(v) || v < 0 || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function parseIpv4(value: string): number | undefined {
  const m = IP_RE.exec(value);
  if (!m) return undefined;
  return octetsToNumber(m.slice(1, 5));
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => String(Math.floor(n / 2 ** s) % 256)).join('.');
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/** Parses `a.b.c.d/p`. Host bits must be zero, so the caller learns the block it really asked for. */
export function parseCidr(value: string): CidrParse {
  const m = CIDR_RE.exec(value);
  if (!m) return { ok: false, reason: 'not of the form a.b.c.d/prefix' };
  const base = octetsToNumber(m.slice(1, 5));
  if (base === undefined) return { ok: false, reason: 'an octet is not a number from 0 to 255' };
  const prefix = Number(m[5]);
  if (prefix > 32) return { ok: false, reason: 'the prefix length is above 32' };
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) {
    const fixed = formatCidr({ base: base - (base % size), prefix });
    return { ok: false, reason: `host bits are set (did you mean ${fixed}?)` };
  }
  return { ok: true, cidr: { base, prefix } };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** The i-th of the 2^bits equal blocks of `c`. */
export function subBlock(c: Cidr, bits: number, i: number): Cidr {
  const prefix = c.prefix + bits;
  return { base: c.base + i * 2 ** (32 - prefix), prefix };
}

/** Smallest subnet AWS allows. */
export const MIN_SUBNET_PREFIX_LENGTH = 28;
