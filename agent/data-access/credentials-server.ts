// The container-credentials interface on the machine's loopback: what boto3, s3fs/aiobotocore and the AWS SDKs
// poll when AWS_CONTAINER_CREDENTIALS_FULL_URI is set (with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE] sent as the
// Authorization header). It answers with the credentials the client forwarded last, so Dask's processes pick up
// a refresh on their own before the old ones expire:
//
//   GET /v1/credentials  Authorization: <token>
//   200 {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}   (the ECS/EKS document)
//   401 wrong or missing token · 404 nothing forwarded (yet)
import { createServer, type Server } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { DataAccessHolder } from './holder.js';

export const CREDENTIALS_PATH = '/v1/credentials';
/** When the client gave no expiry: say this far ahead, so SDKs keep asking (each ask gets the latest). */
const UNKNOWN_EXPIRY_MS = 15 * 60_000;

export interface CredentialsServer {
  /** http://127.0.0.1:PORT/v1/credentials */
  url: string;
  token: string;
  /** Requests answered with credentials (for tests and the log). */
  served(): number;
  close(): Promise<void>;
}

export async function startCredentialsServer(o: { holder: DataAccessHolder; log: Logger; now?: () => number }): Promise<CredentialsServer> {
  const now = o.now ?? Date.now;
  const token = randomBytes(32).toString('base64url');
  const expected = Buffer.from(token);
  let served = 0;
  const server: Server = createServer((req, res) => {
    const auth = Buffer.from(req.headers.authorization ?? '');
    const json = (code: number, body: object): void => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) return json(401, { message: 'missing or wrong authorization token' });
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== CREDENTIALS_PATH) return json(404, { message: `GET ${CREDENTIALS_PATH} only` });
    const aws = o.holder.current()?.aws;
    if (!aws) return json(404, { message: 'no AWS credentials were forwarded to this cluster' });
    served++;
    json(200, {
      AccessKeyId: aws.accessKeyId, SecretAccessKey: aws.secretAccessKey, ...(aws.sessionToken !== undefined ? { Token: aws.sessionToken } : {}),
      Expiration: aws.expiration ?? new Date(now() + UNKNOWN_EXPIRY_MS).toISOString(),
    });
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ port }, 'container credentials endpoint listening on loopback');
  return {
    url: `http://127.0.0.1:${port}${CREDENTIALS_PATH}`,
    token,
    served: () => served,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
