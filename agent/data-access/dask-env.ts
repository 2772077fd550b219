// The environment a Dask process starts with: the agent's own, less any AWS credential settings it inherited
// (on a local machine those are the control plane's, from the broker; a forwarded identity must be the only
// one Dask's code can use), plus the user's --env pairs and secret values, plus the container-credentials
// variables when the client forwards AWS credentials. Pure: environment in, environment out.
import type { DataPayload } from '../../broker/api/data-access.js';

/** Where AWS SDKs find credentials before the container endpoint: none of them reaches Dask from the agent. */
export const AWS_CREDENTIAL_VARS = [
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
] as const;

export interface DaskEnvOptions {
  /** skiff's own variables for Dask (TLS, admission); they win over everything. */
  command: Record<string, string>;
  env?: Record<string, string>;
  payload?: DataPayload;
  /** The machine's container-credentials endpoint, when AWS credentials are forwarded. */
  credentials?: { url: string; token: string; tokenFile: string };
}

export function daskEnvironment(inherited: NodeJS.ProcessEnv, o: DaskEnvOptions): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...inherited };
  for (const k of AWS_CREDENTIAL_VARS) delete out[k];
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
