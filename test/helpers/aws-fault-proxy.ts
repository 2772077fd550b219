// A fault-injecting HTTP proxy between skiff and moto for the answers moto never gives but AWS documents: a
// DependencyViolation that clears once a lingering interface is gone, the spot service-linked-role refusal, the
// instance-profile propagation error of a fresh profile, a quota Service Quotas cannot read. Every request passes
// through unchanged unless a rule matches it; a rule answers in place of moto, in the error format of the
// request's protocol, for its first `times` matches (then the request reaches moto as usual):
//
//   EC2 query (Action=…)        400 <Response><Errors><Error><Code>C</Code><Message>M</Message></Error></Errors>…
//   IAM query (Version=2010-…)  400 <ErrorResponse><Error><Type>Sender</Type><Code>C</Code><Message>M</Message>…
//   JSON (X-Amz-Target: S.Op)   400 {"__type":"C","message":"M"}   (Service Quotas, CloudWatch Logs)
//
// Every request is recorded with its action and (query protocols) its parameters, so a test can read what was
// sent. Point an SDK client at `endpoint` (the EC2, IAM, Logs and Service Quotas clients alike: moto serves all).
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { listen, readBody } from './http-server.js';

export interface FaultRule {
  /** The API action, e.g. 'DeleteSubnet', 'CreateFleet', 'GetServiceQuota'. */
  action: string;
  /** Only requests for which this holds (query parameters, or a JSON body's scalar fields; the signature's region). */
  when?: (params: URLSearchParams, request: { region: string }) => boolean;
  /** How many matching requests are answered with the fault (default: all). */
  times?: number;
  code: string;
  /** The message, or a function of the request's parameters (AWS names the resource in it). */
  message: string | ((params: URLSearchParams) => string);
  /** Default 400. */
  status?: number;
  /** Answer 200 with this body (an answer that succeeds but reports the fault in it, e.g. CreateFleet's errorSet). */
  body?: (params: URLSearchParams) => string;
}

export interface FaultRecord {
  action: string;
  params: URLSearchParams;
  /** The rule's code when the proxy answered, else undefined (moto answered). */
  fault?: string;
  status: number;
}

export interface FaultProxy {
  endpoint: string;
  records: FaultRecord[];
  /** Adds a rule (rules are tried in the order added). */
  add(rule: FaultRule): void;
  /** Removes every rule and forgets the records. */
  clear(): void;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');


interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function forward(upstream: URL, req: IncomingMessage, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method ?? 'GET', path: req.url ?? '/', headers, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    out.on('timeout', () => out.destroy(new Error('upstream timed out after 60 s')));
    out.on('error', reject);
    out.end(body);
  });
}

type Protocol = 'ec2' | 'iam' | 'json';

function parse(req: IncomingMessage, body: Buffer): { action: string; params: URLSearchParams; protocol: Protocol } {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') {
    const params = new URLSearchParams();
    try {
      const json = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
      for (const [k, v] of Object.entries(json)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') params.set(k, String(v));
    } catch {
      // not JSON: no parameters
    }
    return { action: target.split('.').pop() ?? target, params, protocol: 'json' };
  }
  const form = (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded');
  const params = form ? new URLSearchParams(body.toString('utf8')) : new URLSearchParams();
  const protocol: Protocol = params.get('Version') === '2010-05-08' ? 'iam' : 'ec2';
  return { action: params.get('Action') ?? `${req.method ?? ''} ${req.url ?? ''}`, params, protocol };
}

function faultAnswer(protocol: Protocol, status: number, code: string, message: string): Answer {
  const requestId = 'f0f0f0f0-0000-4000-8000-000000000000';
  if (protocol === 'json') {
    const body = Buffer.from(JSON.stringify({ __type: code, message }), 'utf8');
    return { status, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': code, 'x-amzn-requestid': requestId }, body };
  }
  const xml =
    protocol === 'iam'
      ? `<ErrorResponse><Error><Type>Sender</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
      : `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  return { status, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml, 'utf8') };
}

export async function startAwsFaultProxy(opts: { upstream: string; rules?: FaultRule[]; host?: string; port?: number }): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream);
  const rules: { rule: FaultRule; left: number }[] = [];
  const records: FaultRecord[] = [];
  const add = (rule: FaultRule) => rules.push({ rule, left: rule.times ?? Infinity });
  for (const r of opts.rules ?? []) add(r);

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req, MAX_BODY_BYTES);
      if (body === undefined) {
        res.writeHead(413).end();
        return;
      }
      const { action, params, protocol } = parse(req, body);
      // SigV4: Credential=AKID/20260101/us-east-1/ec2/aws4_request
      const region = /Credential=[^/]+\/\d+\/([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const hit = rules.find((r) => r.left > 0 && r.rule.action === action && (r.rule.when?.(params, { region }) ?? true));
      let answer: Answer;
      if (hit) {
        hit.left--;
        const message = typeof hit.rule.message === 'function' ? hit.rule.message(params) : hit.rule.message;
        answer = hit.rule.body
          ? { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(hit.rule.body(params), 'utf8') }
          : faultAnswer(protocol, hit.rule.status ?? 400, hit.rule.code, message);
        records.push({ action, params, fault: hit.rule.code, status: answer.status });
      } else {
        answer = await forward(upstream, req, body);
        records.push({ action, params, status: answer.status });
      }
      const headers = { ...answer.headers, 'content-length': String(answer.body.length) };
      delete headers['transfer-encoding'];
      res.writeHead(answer.status, headers);
      res.end(answer.body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  server.requestTimeout = 120_000;
  const bound = await listen(server, opts.host, opts.port);
  return {
    endpoint: `http://${bound.authority}`,
    records,
    add,
    clear: () => {
      rules.length = 0;
      records.length = 0;
    },
    stop: bound.stop,
  };
}
