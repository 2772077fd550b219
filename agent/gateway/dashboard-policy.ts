// What the dashboard token opens: the scheduler's dashboard pages and their assets, read-only, and nothing
// that makes the scheduler connect somewhere (Dask's /info/logs/<address>.html, /proxy/<port>/<host>/… dial
// any address given: a blind SSRF into the VPC and 169.254.169.254). Anything not listed is refused with 403.
//   GET/HEAD  /  /health  /metrics  /json/*  /statics/*  /static/*  /sitemap.json  /individual-plots.json
//             the Bokeh apps (/status, /workers, …, /individual-*) with their /autoload.js and /metadata
//             /info/main/*, /info/task/*, /info/call-stack/* (a task key, never an address), no query
//   WebSocket the Bokeh apps' /ws, only from the dashboard's own origin (https://<Host>)

const APPS = '(?:status|workers|tasks|system|stealing|events|counters|profile|profile-server|graph|hardware|groups|gpu|individual-[a-z0-9-]+)';
const PAGE = new RegExp(`^/${APPS}(?:/(?:autoload\\.js|metadata))?/?$`);
const APP_SOCKET = new RegExp(`^/${APPS}/ws$`);
const EXACT = new Set(['/', '/health', '/metrics', '/sitemap.json', '/individual-plots.json', '/favicon.ico']);
const PREFIXES = ['/json/', '/statics/', '/static/'];
const INFO = /^\/info\/(?:main|task|call-stack)\/[^/]+\.html$/;

export type PolicyAnswer = { ok: true } | { ok: false; reason: string };

export type PolicyRequest = {
  method: string;
  path: string; // decoded? no: as sent, without the query
  query: string; // '' or '?…' (the token already removed)
  upgrade: boolean;
  host: string | undefined;
  origin: string | undefined;
};

export function checkDashboardRequest(r: PolicyRequest): PolicyAnswer {
  // A path is matched as sent: an encoded slash or dot segment is not something the dashboard links to.
  if (/%2f|%5c|\/\.\.?(?:\/|$)|\\/i.test(r.path)) return { ok: false, reason: 'encoded or dot path segments are not served' };
  if (r.upgrade) {
    if (r.method !== 'GET' || !APP_SOCKET.test(r.path)) return { ok: false, reason: `no WebSocket at ${r.path}` };
    if (r.host === undefined || r.origin !== `https://${r.host}`) return { ok: false, reason: 'a dashboard WebSocket must come from the dashboard\'s own page (Origin)' };
    return { ok: true };
  }
  if (r.method !== 'GET' && r.method !== 'HEAD') return { ok: false, reason: `${r.method} is not allowed: the dashboard is read-only` };
  if (EXACT.has(r.path) || PAGE.test(r.path) || PREFIXES.some((p) => r.path.startsWith(p))) return { ok: true };
  if (INFO.test(r.path)) return r.query === '' ? { ok: true } : { ok: false, reason: '/info pages take no parameters here' };
  return { ok: false, reason: `${r.path} is not a dashboard page` };
}

/** Headers on everything the gateway's HTTPS side answers. Bokeh's pages need inline scripts and eval. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
};
