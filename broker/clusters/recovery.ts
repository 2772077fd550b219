// After a broker restart: every cluster record is taken up where the last broker left it. Running clusters are
// watched again (unless their machines stopped themselves meanwhile, the fail-safe); starting ones get their
// start deadline back; an interrupted stop is finished; a cluster whose machines were still being requested fails.

import type { Store } from '../store/store.js';
import { bounded } from './bounded.js';
import { LAST_LINES, type Lifecycle } from './lifecycle.js';
import type { ClusterService, ClusterServiceOptions } from './types.js';

export async function recoverClusters(o: ClusterServiceOptions & { store: Store }, life: Lifecycle, down: ClusterService['down']): Promise<void> {
  for (const c of await o.store.clusters()) {
    if (c.state === 'running' || c.state === 'starting') {
      // Machines may have stopped themselves (the fail-safe) while the broker was away.
      const b = o.backends[c.backend];
      const machines = b && c.plan ? await bounded('listing machines', life.timeouts.queryMs, b.machines(c.plan)).catch(() => undefined) : undefined;
      // A cloud lists no terminated instance: none left is as stopped as every one stopped.
      if (machines && machines.every((m) => m.state === 'stopped')) {
        const lines = c.plan && b ? await bounded('reading log lines', life.timeouts.queryMs, b.lastLogLines(c.plan, 2000)).catch(() => []) : [];
        // The scheduler's own reason first (its machines are listed first), else a worker's.
        const why = lines.map(failSafeReason).find((x) => x !== undefined);
        await life.setState({ ...c, lastLogLines: lines.slice(-LAST_LINES) }, 'stopped', `stopped itself while the broker was unreachable${why ? `: ${why}` : ''}`);
        // What the machines left (a local machine's tokens, a cloud's launch template) goes as after a stop.
        if (b && c.plan) await bounded('removing what the machines left', life.timeouts.destroyMs, b.destroy(c.plan)).catch((err: unknown) => o.log.error({ clusterId: c.id, err }, 'cleanup after a self-stop failed; run skiff gc'));
        continue;
      }
      if (c.state === 'running') o.watchdog?.track(c.id, { ...o.workspaceWatchdog, ...c.watchdog });
      else life.armDeadline(c);
      continue;
    }
    if (c.state === 'stopping') {
      o.log.info({ clusterId: c.id }, 'finishing an interrupted stop');
      await down(c.id, { reason: c.reason ?? 'stopped by user' });
    } else if (c.state === 'pending') {
      await life.fail(c.id, 'the broker stopped before the machines were requested');
    }
  }
}

/** The reason in an agent's "fail-safe: stopping this machine" log line (lines read "<machine>: <json>"). */
function failSafeReason(line: string): string | undefined {
  try {
    const entry = JSON.parse(line.slice(line.indexOf('{'))) as { msg?: string; reason?: string };
    return entry.msg === 'fail-safe: stopping this machine' ? entry.reason : undefined;
  } catch {
    return undefined;
  }
}
