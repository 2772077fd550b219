// A cluster as the CLI shows it, for tests that follow one while it changes (scaling, adapting).
import type { SkiffHome } from './skiff.js';

/** `skiff status NAME --json`; a CLI call that failed on a busy machine is made again (bounded). */
export async function statusJson<T>(h: SkiffHome, name: string): Promise<T> {
  let last = '';
  for (let i = 0; i < 5; i++) {
    const r = await h.run(['status', name, '--json']);
    if (r.code === 0) return JSON.parse(r.stdout) as T;
    last = r.stderr;
  }
  throw new Error(`skiff status ${name} failed: ${last}`);
}

/** `skiff notifications NAME --json`: one JSON object a line. */
export async function notificationsJson<T>(h: SkiffHome, name: string): Promise<T[]> {
  const out = (await h.run(['notifications', name, '--json'])).stdout;
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
