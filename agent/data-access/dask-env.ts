// The environment a Dask process starts with: of the agent's own only what programs need to run (an allow-list:
// never skiff's own settings, the enrol token among them, nor whatever else the agent or broker was given), less
// any AWS credential settings (on a local machine those are the control plane's, from the broker; a forwarded
// identity must be the only one Dask's code can use), plus the user's --env pairs and secret values, plus the
// container-credentials variables when the client forwards AWS credentials. Pure: environment in, environment out.
import type { DataPayload } from '../../broker/api/data-access.js';

/** Where AWS SDKs find credentials before the container endpoint: none of them reaches Dask from the agent. */
export const AWS_CREDENTIAL_VARS = [
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
] as const;

/**
 * What a Dask process keeps of the agent's environment, by name: the search path, home and user, locale, time zone,
 * temporary directory, the libraries' path (GPU images set it), proxies and CA bundles, an active virtual
 * environment. Plus every name under KEPT_PREFIXES.
 */
const KEPT_NAMES: ReadonlySet<string> = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TERM', 'LD_LIBRARY_PATH',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'VIRTUAL_ENV', 'CONDA_PREFIX',
]);
/**
 * Families kept whole: the locale (LC_*), Dask's and Python's own settings, CUDA and NVIDIA's, thread counts of the
 * numeric libraries, XDG directories, and AWS's settings (region, endpoints, CA bundle) — less the credential ones.
 */
const KEPT_PREFIXES: readonly string[] = ['LC_', 'DASK_', 'PYTHON', 'CUDA_', 'NVIDIA_', 'OMP_', 'MKL_', 'OPENBLAS_', 'NUMBA_', 'XDG_', 'AWS_'];

/** True for a variable of the agent's own environment that Dask may see. */
export function keptForDask(name: string): boolean {
  return (KEPT_NAMES.has(name) || KEPT_PREFIXES.some((p) => name.startsWith(p))) && !(AWS_CREDENTIAL_VARS as readonly string[]).includes(name);
}

export interface DaskEnvOptions {
  /** skiff's own variables for Dask (TLS, admission); they win over everything. */
  command: Record<string, string>;
  env?: Record<string, string>;
  payload?: DataPayload;
  /** The machine's container-credentials endpoint, when AWS credentials are forwarded. */
  credentials?: { url: string; token: string; tokenFile: string };
}

export function daskEnvironment(inherited: NodeJS.ProcessEnv, o: DaskEnvOptions): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(inherited)) if (v !== undefined && keptForDask(k)) out[k] = v;
  Object.assign(out, o.env ?? {}, o.payload?.secretEnv ?? {});
  if (o.credentials) {
    Object.assign(out, {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: o.credentials.url,
      // Older SDKs (botocore before 1.31) read the token from the environment only; newer ones prefer the file.
      AWS_CONTAINER_AUTHORIZATION_TOKEN: o.credentials.token,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: o.credentials.tokenFile,
    });
  }
  return Object.assign(out, o.command);
}
