// The scheduler's HTTP server (dashboard, /json, /metrics, /api/v1 with retire_workers) listens on loopback, which
// every user of the machine can reach: without a guard anyone local could read the logs through it, retire workers or
// bypass the dashboard token. Dask has no authentication of its own there, so a second --preload module requires
// a secret header on every request, WebSocket upgrades included: a random token the agent makes for each start of
// the scheduler and gives Dask in its environment (/proc/PID/environ is the owner's only). The agent's own callers
// (telemetry, scaling, the scheduler watch) and the gateway's dashboard proxy send it; nothing else knows it.
//
// It patches RoutingApplication.find_handler when imported: Dask imports preloads in Scheduler.__init__, before
// it builds its HTTP application and opens the port, so no request is ever served unchecked. Every router below
// (Dask's routes, the Bokeh dashboard it adds as an application) is reached through that method.

import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The header the guard requires, and the variable that gives Dask its value. */
export const DASK_HTTP_TOKEN_HEADER = 'x-skiff-dask-http-token';
export const DASK_HTTP_TOKEN_ENV = 'SKIFF_DASK_HTTP_TOKEN';
export const HTTP_GUARD_FILE = 'skiff_http_guard.py';

const HTTP_GUARD_PLUGIN = `"""skiff: the scheduler's HTTP server answers only requests carrying the agent's token (written by the skiff agent)."""
import hmac
import logging
import os

from tornado import web
from distributed.http.routing import RoutingApplication

logger = logging.getLogger("distributed.skiff.http_guard")

TOKEN = os.environ.get("${DASK_HTTP_TOKEN_ENV}", "").encode()
if len(TOKEN) < 32:
    raise RuntimeError("skiff http guard: ${DASK_HTTP_TOKEN_ENV} is not set; refusing to serve HTTP unprotected")


class Refused(web.RequestHandler):
    def prepare(self):
        self.set_status(403)
        self.set_header("Content-Type", "text/plain")
        self.finish("skiff: this scheduler's HTTP server is for its agent and gateway only\\n")


# Dask imports (and reloads) a preload module more than once: wrap the original method, never a wrapper.
_find_handler = getattr(RoutingApplication, "_skiff_original_find_handler", RoutingApplication.find_handler)
RoutingApplication._skiff_original_find_handler = _find_handler


def find_handler(self, request, **kwargs):
    given = request.headers.get("${DASK_HTTP_TOKEN_HEADER}", "").encode()
    if not hmac.compare_digest(given, TOKEN):
        return self.get_handler_delegate(request, Refused)
    return _find_handler(self, request, **kwargs)


RoutingApplication.find_handler = find_handler


def dask_setup(scheduler):
    logger.info("skiff http guard armed")
`;

/** Writes the module into `dir` (atomically, owner-only) and gives its path for --preload. */
export function writeHttpGuardPlugin(dir: string): string {
  const path = join(dir, HTTP_GUARD_FILE);
  writeFileSync(`${path}.tmp`, HTTP_GUARD_PLUGIN, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return path;
}

/** A fresh token for one start of the scheduler (256 bits). */
export function newDaskHttpToken(): string {
  return randomBytes(32).toString('base64url');
}

/** `fetch` for the scheduler's loopback HTTP server: every request carries the token. */
export function daskHttpFetch(token: string, f: typeof fetch = fetch): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set(DASK_HTTP_TOKEN_HEADER, token);
    return f(input, { ...init, headers });
  };
}
