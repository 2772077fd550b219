// Names and fixed addresses of one simulator. Every namespace, veth and temp dir carries the simulator's random
// id, so two test files can run side by side and a cleanup can never touch anything it did not create.

import { randomBytes } from 'node:crypto';

/** The "internet" address inside the outer namespace: moto and the broker listen here (TEST-NET-2, RFC 5737). */
export const INTERNET_IP = '198.51.100.1';
/** The instance metadata service, as on EC2 (link-local, answered in the outer namespace). */
export const IMDS_IP = '169.254.169.254';
/** Every VM's default gateway (Calico style: a link-local next hop that only the outer namespace answers). */
export const GATEWAY_IP = '169.254.1.1';
/** moto's port on INTERNET_IP inside the outer namespace. */
export const MOTO_PORT = 5000;

const PREFIX = 'ssim';

export interface SimNames {
  id: string;
  /** The outer network namespace: the VPC's router and "the internet". */
  outerNs: string;
  /** Prefix shared by every namespace of this simulator (outer and VMs). */
  nsPrefix: string;
  /** Prefix of the outer ends of the VMs' veths; the firewall matches it. */
  vethPrefix: string;
}

export function newSimNames(random: () => string = () => randomBytes(3).toString('hex')): SimNames {
  const id = random();
  if (!/^[0-9a-f]{6}$/.test(id)) throw new Error(`simulator id ${JSON.stringify(id)} must be 6 hex digits`);
  return { id, outerNs: `${PREFIX}-${id}`, nsPrefix: `${PREFIX}-${id}`, vethPrefix: `sv${id}` };
}

/** Names of VM number `n` (1-based): its network namespace and the outer end of its veth (≤ 15 chars). */
export function vmNames(sim: SimNames, n: number): { ns: string; veth: string } {
  if (!Number.isInteger(n) || n < 1 || n > 999) throw new Error(`VM number ${n} is out of range 1..999`);
  return { ns: `${sim.nsPrefix}-vm${n}`, veth: `${sim.vethPrefix}${n}` };
}

/** True when a namespace name belongs to this simulator (its outer namespace or one of its VMs). */
export function isOurNs(sim: Pick<SimNames, 'nsPrefix'>, name: string): boolean {
  return name === sim.nsPrefix || name.startsWith(`${sim.nsPrefix}-vm`);
}
