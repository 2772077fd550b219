// The test side's view of a VM: the daemon's snapshot plus readers of what the VM wrote to its /var/log
// (a directory on the host, so it stays readable after the VM is gone, until sim.stop()).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsPids } from './netns.js';
import type { VmSnapshot } from './types.js';

export interface VmInfo extends VmSnapshot {
  /** /var/log/cloud-init-output.log: the user-data's output, as cloud-init writes it. */
  bootLog(): string;
  /** A unit's journal (skiff-agent or skiff-agent.service), or every unit's, each under a header line. */
  journal(unit?: string): string;
  /** The VM's console: what pid 1 printed (boot.sh and init). */
  consoleLog(): string;
  /** Host pids of every process in the VM (its network namespace); empty once it is gone. */
  pids(): number[];
}

const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

export function vmInfo(s: VmSnapshot): VmInfo {
  const logDir = join(s.stateDir, 'log');
  const journalDir = join(logDir, 'journal');
  return {
    ...s,
    bootLog: () => read(join(logDir, 'cloud-init-output.log')),
    journal: (unit) => {
      if (unit !== undefined) return read(join(journalDir, `${unit.includes('.') ? unit : `${unit}.service`}.log`));
      if (!existsSync(journalDir)) return '';
      return readdirSync(journalDir)
        .filter((f) => f.endsWith('.log'))
        .sort()
        .map((f) => `-- ${f.replace(/\.log$/, '')} --\n${read(join(journalDir, f))}`)
        .join('');
    },
    consoleLog: () => read(join(s.stateDir, 'console.log')),
    pids: () => (s.state === 'gone' ? [] : nsPids(s.netns)),
  };
}

const tail = (text: string, lines: number) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** What a failing test prints: for each VM its state, and the tails of its boot log, journals and console. */
export function describeVms(vms: readonly VmInfo[], lines = 25): string {
  if (vms.length === 0) return 'no VM was booted';
  return vms
    .map((vm) => {
      const head = `── ${vm.instanceId} (${vm.role ?? 'no role'}) ${vm.state}${vm.goneReason ? `: ${vm.goneReason}` : ''}; ${vm.privateIp}${vm.publicIp ? ` / ${vm.publicIp}` : ''} ──`;
      const parts = [head, `boot log (cloud-init-output.log), last ${lines} lines:`, tail(vm.bootLog(), lines) || '(empty)'];
      const journal = vm.journal();
      if (journal) parts.push(`journal, last ${lines} lines:`, tail(journal, lines));
      const console = vm.consoleLog();
      if (console) parts.push('console, last 10 lines:', tail(console, 10));
      return parts.join('\n');
    })
    .join('\n\n');
}
