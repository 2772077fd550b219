// Security groups and the internet gateway's 1:1 NAT, as one nftables table in the outer namespace. The
// ruleset is built as text from plain data (pure), then swapped in atomically with one `nft -f`.
//
// Semantics followed (EC2 User Guide, "Security group rules" and "Connection tracking"):
//   - stateful: replies of an accepted connection are accepted (ct state established,related), and a tracked
//     connection survives the removal of the rule that let it in;
//   - ingress is allowed when SOME group of the destination's interface has a rule matching protocol/port and
//     either a CIDR holding the source address or a source group the sender belongs to; else dropped (silently,
//     so a client sees a timeout, as on EC2);
//   - a source group matches traffic sent to the private address only: via a public address the packet arrives
//     from the sender's public address, so only CIDR rules apply (that is why the filter runs after SNAT);
//   - egress: everything allowed (the outbound rules are not read);
//   - from the internet (anything that is not a VM), a VM is reachable through its public address only.
//
//   prerouting/output (dstnat): public → private       postrouting (srcnat): VM private → its public, when the
//   destination is not another VM's private address or IMDS, or when the packet was sent to a public address
//   postrouting (priority 300, after srcnat): the security-group filter for every packet leaving on a VM's veth

import type { IngressRule } from './ec2-view.js';
import { runOk } from './run.js';

export const TABLE = 'skiffsim';
/** IMDS and the gateway: reached by a VM's private address, never through the NAT. */
const LINK_LOCAL = '169.254.0.0/16';

export interface FirewallVm {
  instanceId: string;
  privateIp: string;
  publicIp?: string;
  groupIds: string[];
}

export interface FirewallInput {
  /** Prefix of the outer ends of the VMs' veths. */
  vethPrefix: string;
  vms: FirewallVm[];
  ingress: ReadonlyMap<string, readonly IngressRule[]>;
}

const set = (items: readonly string[]) => `{ ${items.join(', ')} }`;
const chainName = (instanceId: string) => `to_${instanceId.replace(/[^A-Za-z0-9]/g, '_')}`;

function protocolMatch(rule: IngressRule): string | undefined {
  switch (rule.protocol) {
    case 'all':
      return '';
    case 'tcp':
    case 'udp': {
      const ports = rule.fromPort === undefined ? '' : rule.fromPort === rule.toPort ? ` th dport ${rule.fromPort}` : ` th dport ${rule.fromPort}-${rule.toPort ?? rule.fromPort}`;
      return `meta l4proto ${rule.protocol}${ports}`;
    }
    case 'icmp':
      return `meta l4proto icmp${rule.fromPort === undefined ? '' : ` icmp type ${rule.fromPort}`}${rule.toPort === undefined ? '' : ` icmp code ${rule.toPort}`}`;
    default:
      // Another IP protocol by number (e.g. 47 for GRE); names other than tcp/udp/icmp are not EC2's.
      return /^\d{1,3}$/.test(rule.protocol) ? `meta l4proto ${rule.protocol}` : undefined;
  }
}

/** The accept rules one ingress permission gives, for a destination whose groups' members are known. */
function acceptRules(rule: IngressRule, members: ReadonlyMap<string, readonly string[]>): string[] {
  const proto = protocolMatch(rule);
  if (proto === undefined) return [];
  const lines: string[] = [];
  const prefix = proto ? `${proto} ` : '';
  if (rule.cidrs.includes('0.0.0.0/0')) lines.push(`${prefix}accept`);
  else if (rule.cidrs.length > 0) lines.push(`${prefix}ip saddr ${set(rule.cidrs)} accept`);
  const sources = [...new Set(rule.sourceGroupIds.flatMap((g) => members.get(g) ?? []))].sort();
  if (sources.length > 0) lines.push(`${prefix}ip saddr ${set(sources)} accept`);
  return lines;
}

export function buildRuleset(input: FirewallInput): string {
  const vms = [...input.vms].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const privates = vms.map((v) => v.privateIp);
  const members = new Map<string, string[]>();
  for (const vm of vms) for (const g of vm.groupIds) members.set(g, [...(members.get(g) ?? []), vm.privateIp]);

  const dnat = vms.filter((v) => v.publicIp).map((v) => `    ip daddr ${v.publicIp} dnat to ${v.privateIp}`);
  const snat = vms
    .filter((v) => v.publicIp)
    .flatMap((v) => [
      `    ip saddr ${v.privateIp} ip daddr != ${set([LINK_LOCAL, ...privates])} snat to ${v.publicIp}`,
      `    ip saddr ${v.privateIp} ct status dnat snat to ${v.publicIp}`,
    ]);
  const lines = [
    `table ip ${TABLE} {`,
    '  chain nat_pre {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...dnat,
    '  }',
    '  chain nat_out {',
    '    type nat hook output priority -100; policy accept;',
    ...dnat,
    '  }',
    '  chain nat_post {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...snat,
    '  }',
    '  chain sg {',
    '    type filter hook postrouting priority 300; policy accept;',
    `    oifname != "${input.vethPrefix}*" accept`,
    '    ct state established,related accept',
    ...vms.map((v) => `    ip daddr ${v.privateIp} jump ${chainName(v.instanceId)}`),
    // A veth whose VM is not (yet) in the ruleset: closed, so a VM is never reachable before its rules exist.
    '    counter drop',
    '  }',
  ];
  for (const vm of vms) {
    const rules = vm.groupIds.flatMap((g) => (input.ingress.get(g) ?? []).flatMap((r) => acceptRules(r, members)));
    lines.push(
      `  chain ${chainName(vm.instanceId)} {`,
      // The internet has no route to private addresses: only what was sent to the public address (DNAT) gets here.
      `    ip saddr != ${set(privates)} ct status & dnat != dnat drop`,
      ...[...new Set(rules)].map((r) => `    ${r}`),
      '    counter drop',
      '  }',
    );
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Replaces the table in one transaction (connections already tracked keep their NAT and stay accepted). */
export async function applyRuleset(outerNs: string, ruleset: string): Promise<void> {
  const script = `table ip ${TABLE}\ndelete table ip ${TABLE}\n${ruleset}`;
  await runOk('ip', ['netns', 'exec', outerNs, 'nft', '-f', '-'], { input: script, timeoutMs: 10_000 });
}
