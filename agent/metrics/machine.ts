// CPU, memory, disk and network of this machine via systeminformation. Only the calls that read /proc or
// run a quick `df` asynchronously: never graphics(), which runs nvidia-smi synchronously.

import si from 'systeminformation';
import type { MachineMetrics } from '../../broker/api/telemetry.js';

/** The part of systeminformation used here, so tests and other platforms can pass their own. */
export interface SystemInfo {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ total: number; active: number }>;
  fsSize(): Promise<Array<{ size: number; used: number; mount: string }>>;
  networkStats(): Promise<Array<{ rx_sec: number | null; tx_sec: number | null; iface: string }>>;
}

const num = (n: number | null | undefined): number => (typeof n === 'number' && Number.isFinite(n) ? n : 0);

export async function collectMachineMetrics(source: SystemInfo = si): Promise<MachineMetrics> {
  const [load, mem, disks, nets] = await Promise.all([source.currentLoad(), source.mem(), source.fsSize(), source.networkStats()]);
  // The root filesystem is where Dask spills; fall back to the largest if / is not listed.
  const root = disks.find((d) => d.mount === '/') ?? [...disks].sort((a, b) => b.size - a.size)[0];
  let rx = 0;
  let tx = 0;
  for (const n of nets) {
    if (n.iface === 'lo') continue;
    rx += num(n.rx_sec);
    tx += num(n.tx_sec);
  }
  return {
    cpuLoadPct: Math.round(num(load.currentLoad) * 10) / 10,
    memUsedBytes: num(mem.active),
    memTotalBytes: num(mem.total),
    diskUsedBytes: num(root?.used),
    diskTotalBytes: num(root?.size),
    netRxBytesPerS: Math.round(rx),
    netTxBytesPerS: Math.round(tx),
  };
}
