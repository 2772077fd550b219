// Pure helpers for the dashboard's token handling: a `?token=` query parameter is exchanged once for a cookie,
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
export function takeDashboardCookie(header: string | undefined): { token?: string; rest?: string } {
  if (header === undefined) return {};
  let token: string | undefined;
  const rest: string[] = [];
  for (const raw of header.split(';')) {
    const pair = raw.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq).trim();
    if (name === DASHBOARD_COOKIE) {
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

export function dashboardCookie(token: string): string {
  return `${DASHBOARD_COOKIE}=${encodeURIComponent(token)}; HttpOnly; Secure; SameSite=Strict; Path=/`;
}
