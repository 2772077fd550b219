// A stand-in for AWS Service Quotas on 127.0.0.1 (moto implements only the vpc quotas): GetServiceQuota and
// GetAWSDefaultServiceQuota over the AWS JSON 1.1 protocol the SDK speaks (POST /, X-Amz-Target:
// ServiceQuotasV20190624.<Action>), answering from a table of EC2 quotas. An unknown code (or another
// service) gets NoSuchResourceException, as AWS answers; a code can be made to answer another error
// (e.g. AccessDeniedException). Every request is recorded.
//
// In-process:   const sq = await startServiceQuotas({ quotas: { 'L-1216C47A': 32 } });  ...  await sq.stop();
//   then a client: new ServiceQuotasClient({ endpoint: sq.endpoint, ... }), or AWS_ENDPOINT_URL_SERVICE_QUOTAS=sq.endpoint
//   for clients made without an endpoint (the SDK's service-specific variable wins over AWS_ENDPOINT_URL).
// As a process (e.g. inside a network namespace): see service-quotas-main.ts.
import { createServer, type ServerResponse } from 'node:http';
import { listen, readBody } from './http-server.js';

export interface ServiceQuotasOptions {
  /** Quota values by code (service ec2). */
  quotas: Record<string, number>;
  /** Codes that answer an error instead, by AWS error type, e.g. { 'L-34B43A08': 'AccessDeniedException' }. */
  errors?: Record<string, string>;
  host?: string;
  /** Default 0: a free port. */
  port?: number;
}

export interface QuotaRequest {
  action: string;
  serviceCode: string;
  quotaCode: string;
  /** The region of the request's signature. */
  region: string;
}

export interface ServiceQuotasStandIn {
  endpoint: string;
  port: number;
  requests: QuotaRequest[];
  /** Changes (or adds) a quota's value. */
  set(code: string, value: number): void;
  stop(): Promise<void>;
}

// The EC2 vCPU quotas' names as Service Quotas gives them.
const NAMES: Record<string, string> = {
  'L-1216C47A': 'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances',
  'L-34B43A08': 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests',
  'L-DB2E81BA': 'Running On-Demand G and VT instances',
  'L-3819A6DF': 'All G and VT Spot Instance Requests',
  'L-417A185B': 'Running On-Demand P instances',
  'L-7212CCBC': 'All P Spot Instance Requests',
};

const TARGET_PREFIX = 'ServiceQuotasV20190624.';
const ACTIONS = new Set(['GetServiceQuota', 'GetAWSDefaultServiceQuota']);
const MAX_BODY_BYTES = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': '00000000-0000-4000-8000-000000000000',
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(text);
}

const fail = (res: ServerResponse, status: number, type: string, message: string) => send(res, status, { __type: type, message, Message: message }, type);


export async function startServiceQuotas(opts: ServiceQuotasOptions): Promise<ServiceQuotasStandIn> {
  const quotas = new Map(Object.entries(opts.quotas));
  const errors = new Map(Object.entries(opts.errors ?? {}));
  const requests: QuotaRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const action = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
      const body = (await readBody(req, MAX_BODY_BYTES))?.toString('utf8');
      if (req.method !== 'POST' || body === undefined) return fail(res, 400, 'SerializationException', 'expected a POST with a JSON body under 64 KB');
      if (!ACTIONS.has(action)) return fail(res, 400, 'UnknownOperationException', `operation ${target || '(none)'} is not supported by this stand-in`);
      let input: { ServiceCode?: unknown; QuotaCode?: unknown };
      try {
        input = JSON.parse(body || '{}') as typeof input;
      } catch {
        return fail(res, 400, 'SerializationException', 'the body is not JSON');
      }
      const serviceCode = typeof input.ServiceCode === 'string' ? input.ServiceCode : '';
      const quotaCode = typeof input.QuotaCode === 'string' ? input.QuotaCode : '';
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
      requests.push({ action, serviceCode, quotaCode, region });
      if (!serviceCode || !quotaCode) return fail(res, 400, 'IllegalArgumentException', 'ServiceCode and QuotaCode are required');
      const error = errors.get(quotaCode);
      if (error) return fail(res, error === 'AccessDeniedException' ? 403 : 400, error, `stand-in answers ${error} for ${quotaCode}`);
      const value = quotas.get(quotaCode);
      if (serviceCode !== 'ec2' || value === undefined) {
        return fail(res, 400, 'NoSuchResourceException', `The request failed because the specified service quota ${serviceCode}/${quotaCode} does not exist.`);
      }
      send(res, 200, {
        Quota: {
          ServiceCode: 'ec2',
          ServiceName: 'Amazon Elastic Compute Cloud (Amazon EC2)',
          QuotaArn: `arn:aws:servicequotas:${region || 'us-east-1'}:123456789012:ec2/${quotaCode}`,
          QuotaCode: quotaCode,
          QuotaName: NAMES[quotaCode] ?? quotaCode,
          Value: value,
          Unit: 'None',
          Adjustable: true,
          GlobalQuota: false,
        },
      });
    })().catch((err: unknown) => {
      if (!res.headersSent) fail(res, 500, 'ServiceException', err instanceof Error ? err.message : String(err));
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  const bound = await listen(server, opts.host, opts.port);
  return {
    endpoint: `http://${bound.authority}`,
    port: bound.port,
    requests,
    set: (code, value) => void quotas.set(code, value),
    stop: bound.stop,
  };
}
