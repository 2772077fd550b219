// Pure helpers for the dashboard's token handling: a `?token=` query parameter is exchanged once for a session
// cookie named per cluster (local clusters share 127.0.0.1, and a browser's cookies do not tell ports apart),
// and neither the token nor the cookie is ever passed on to the scheduler.

export const DASHBOARD_COOKIE = 'skiff_dashboard';

export const UNAUTHORIZED_BODY =
  'skiff: this dashboard needs a dashboard token.\n' +
  'Run `skiff status NAME` (NAME = your cluster) to print a dashboard URL that carries one, then open that URL.\n';

export type SplitTarget = { path: string; query: string; token?: string };

// Splits a request target into its path and its query without the `token` parameter (the first one found is
// returned). The query is kept byte for byte apart from that, so the scheduler sees what the browser sent.
// Returns undefined for a target that is not origin-form ("/path?query").
export function splitTarget(target: string): SplitTarget | undefined {
  if (!target.startsWith('/')) return undefined;
  const q = target.indexOf('?');
  // Collapse leading slashes: a Location of "//host/x" would redirect the browser to another site.
  const path = (q < 0 ? target : target.slice(0, q)).replace(/^\/+/, '/');
  if (q < 0) return { path, query: '' };
  let token: string | undefined;
  const kept: string[] = [];
  for (const part of target.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    const name = safeDecode(eq < 0 ? part : part.slice(0, eq));
    if (name === 'token') {
      token ??= safeDecode(eq < 0 ? '' : part.slice(eq + 1));
    } else if (part !== '') {
      kept.push(part);
    }
  }
  const query = kept.length === 0 ? '' : `?${kept.join('&')}`;
  return token === undefined ? { path, query } : { path, query, token };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

// The dashboard cookie's value (first one) and the Cookie header without it (undefined when nothing is left).
export function takeDashboardCookie(header: string | undefined, name = DASHBOARD_COOKIE): { token?: string; rest?: string } {
  if (header === undefined) return {};
  let token: string | undefined;
  const rest: string[] = [];
  for (const raw of header.split(';')) {
    const pair = raw.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq).trim();
    if (key === name) {
      token ??= safeDecode(pair.slice(eq + 1).trim());
    } else {
      rest.push(pair);
    }
  }
  const out: { token?: string; rest?: string } = {};
  if (token !== undefined && token !== '') out.token = token;
  if (rest.length > 0) out.rest = rest.join('; ');
  return out;
}

/** The cookie's name for one cluster. */
export function dashboardCookieName(clusterId: string): string {
  return `${DASHBOARD_COOKIE}_${clusterId.replace(/[^A-Za-z0-9_-]/g, '')}`;
}

/**
 * Lax, not Strict: a link from a chat or a mail opens the dashboard with its cookie. Cross-site requests that
 * could change something are refused anyway (only GET and HEAD are served, WebSockets only from this origin).
 */
export function dashboardCookie(value: string, name = DASHBOARD_COOKIE): string {
  return `${name}=${encodeURIComponent(value)}; HttpOnly; Secure; SameSite=Lax; Path=/`;
}
