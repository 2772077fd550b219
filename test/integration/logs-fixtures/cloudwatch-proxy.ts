// An HTTP proxy in front of moto for log tests. It checks every PutLogEvents against CloudWatch's rules (moto
// does not) and answers InvalidParameterException when one is broken, so a test sees what real CloudWatch
// would refuse; and on demand it plays an outage: 503 ServiceUnavailable or 400 ThrottlingException.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ProxyMode = 'pass' | 'unavailable' | 'throttle';

export interface CloudWatchProxy {
  endpoint: string;
  mode: ProxyMode;
  /** Hold each PutLogEvents answer this long after moto stored the batch (an in-flight window to crash in). */
  putDelayMs: number;
  /** Called when moto has stored a PutLogEvents batch, before the client gets the answer. */
  onPutStored: ((events: number) => void) | undefined;
  /** PutLogEvents calls forwarded, refused by the rules check, and answered with an outage error. */
  counts: { forwarded: number; invalid: number; outage: number };
  violations: string[];
  close(): Promise<void>;
}

/** The PutLogEvents rules, written out independently of agent/logs/batcher.ts. */
function violation(body: { logEvents?: { timestamp: number; message: string }[] }): string | undefined {
  const events = body.logEvents ?? [];
  if (events.length === 0 || events.length > 10_000) return `${events.length} events`;
  let total = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const size = Buffer.byteLength(e.message, 'utf8') + 26;
    if (size > 262_144) return `event ${i} has ${size} bytes`;
    if (e.message.length === 0) return `event ${i} is empty`;
    if (i > 0 && e.timestamp < events[i - 1]!.timestamp) return `event ${i} out of order`;
    total += size;
  }
  if (total > 1_048_576) return `batch of ${total} bytes`;
  if (events.at(-1)!.timestamp - events[0]!.timestamp >= 24 * 3_600_000) return 'batch spans 24 h or more';
  return undefined;
}

function answer(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ __type: type, message }));
}

export async function startCloudWatchProxy(upstream: string): Promise<CloudWatchProxy> {
  const up = new URL(upstream);
  const proxy: CloudWatchProxy = {
    endpoint: '',
    mode: 'pass',
    putDelayMs: 0,
    onPutStored: undefined,
    counts: { forwarded: 0, invalid: 0, outage: 0 },
    violations: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? '');
      if (proxy.mode === 'unavailable') {
        proxy.counts.outage++;
        return answer(res, 503, 'ServiceUnavailableException', 'The service is unavailable (test outage)');
      }
      if (proxy.mode === 'throttle') {
        proxy.counts.outage++;
        return answer(res, 400, 'ThrottlingException', 'Rate exceeded (test outage)');
      }
      if (target.endsWith('.PutLogEvents')) {
        const problem = violation(JSON.parse(body.toString('utf8')) as Parameters<typeof violation>[0]);
        if (problem) {
          proxy.counts.invalid++;
          proxy.violations.push(problem);
          return answer(res, 400, 'InvalidParameterException', problem);
        }
        proxy.counts.forwarded++;
      }
      const fwd = request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
        (upRes) => {
          const isPut = target.endsWith('.PutLogEvents');
          if (isPut && upRes.statusCode === 200) proxy.onPutStored?.((JSON.parse(body.toString('utf8')) as { logEvents: unknown[] }).logEvents.length);
          const delay = isPut ? proxy.putDelayMs : 0;
          setTimeout(() => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          }, delay);
        },
      );
      fwd.on('error', () => answer(res, 502, 'ServiceUnavailableException', 'upstream down'));
      fwd.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
