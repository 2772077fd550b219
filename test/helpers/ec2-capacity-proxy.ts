// A fault-injecting HTTP proxy between skiff and moto for EC2 (moto never runs out of capacity): every request
// passes through unchanged, except an instant CreateFleet, which is answered as EC2 answers when some instance
// types have no capacity. Each type has a capacity (instances it can still give; absent = unlimited). The
// proxy walks the request's overrides in priority order (lower Priority first, then request order), as an
// instant fleet with the `prioritized` strategy does:
//
//   CreateFleet (TotalTargetCapacity N, overrides A×subnets, B×subnets)
//     A has 0 left  → every A override goes into errorSet with InsufficientInstanceCapacity
//     B has k left  → moto launches min(N, k) of B (one CreateFleet to moto with B's overrides only);
//                     if k < N, every B override goes into errorSet too
//   response: moto's fleetId and fleetInstanceSet (merged when several types launched) + that errorSet
//
// errorSet follows EC2's documented CreateFleetError: item { launchTemplateAndOverrides { launchTemplateSpecification,
// overrides }, lifecycle, errorCode, errorMessage }. A fleet nothing could be given to still reaches moto (with
// TotalTargetCapacity 0) so its fleetId is moto's. Capacity is consumed by what launched and not given back on
// termination. RunInstances and other fleet types are not touched. Every request is recorded.
//
// In-process: const p = await startEc2CapacityProxy({ upstream: 'http://127.0.0.1:5000', capacity: { 'm6i.xlarge': 0 } });
// As a process (e.g. inside the simulator's outer namespace): see ec2-capacity-proxy-main.ts.
import { createServer, request, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { listen, readBody } from './http-server.js';

export interface CapacityProxyOptions {
  /** moto's endpoint, e.g. http://198.51.100.1:5000. */
  upstream: string;
  /** Instances each type can still give; a type not listed is unlimited. */
  capacity: Record<string, number>;
  /** Hold the answers to these actions this long (a slow EC2: the work is done, the answer is late), e.g. { CreateFleet: 4000 }. */
  delayMs?: Record<string, number>;
  host?: string;
  port?: number;
  /** Called with every request once answered (for a process to print it). */
  onRecord?: (r: ProxyRecord) => void;
}

export interface RefusedOverride {
  instanceType: string;
  subnetId: string;
}

export interface ProxyRecord {
  action: string;
  status: number;
  /** CreateFleet only: what was asked, launched by type, and the overrides put into errorSet. */
  fleet?: { target: number; lifecycle: string; launched: Record<string, number>; refused: RefusedOverride[] };
}

export interface CapacityProxy {
  endpoint: string;
  records: ProxyRecord[];
  stop(): Promise<void>;
}

interface Override {
  index: number;
  instanceType: string;
  subnetId: string;
  priority: number;
  /** Every Overrides.N.* field, by its name after the index. */
  fields: [string, string][];
}

const CONFIG = 'LaunchTemplateConfigs.1.';
const OVERRIDE_RE = /^LaunchTemplateConfigs\.1\.Overrides\.(\d+)\.(.+)$/;
const MAX_BODY_BYTES = 1024 * 1024;

function overridesOf(params: URLSearchParams): Override[] {
  const byIndex = new Map<number, Override>();
  for (const [k, v] of params) {
    const m = OVERRIDE_RE.exec(k);
    if (!m) continue;
    const index = Number(m[1]);
    const o = byIndex.get(index) ?? { index, instanceType: '', subnetId: '', priority: Infinity, fields: [] };
    o.fields.push([m[2] ?? '', v]);
    if (m[2] === 'InstanceType') o.instanceType = v;
    if (m[2] === 'SubnetId') o.subnetId = v;
    if (m[2] === 'Priority') o.priority = Number(v);
    byIndex.set(index, o);
  }
  return [...byIndex.values()].sort((a, b) => a.priority - b.priority || a.index - b.index);
}

/** The request with only `keep` as its overrides (renumbered) and `target` as its total capacity. */
function narrowed(params: URLSearchParams, keep: Override[], target: number, tokenSuffix: string): string {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (!OVERRIDE_RE.test(k)) out.append(k, v);
  keep.forEach((o, i) => {
    for (const [f, v] of o.fields) out.append(`${CONFIG}Overrides.${i + 1}.${f}`, v);
  });
  out.set('TargetCapacitySpecification.TotalTargetCapacity', String(target));
  const token = params.get('ClientToken');
  if (token) out.set('ClientToken', `${token}${tokenSuffix}`);
  return out.toString();
}

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function errorItem(params: URLSearchParams, o: Override, lifecycle: string): string {
  const lt = params.get(`${CONFIG}LaunchTemplateSpecification.LaunchTemplateId`) ?? '';
  const version = params.get(`${CONFIG}LaunchTemplateSpecification.Version`) ?? '';
  const message = `We currently do not have sufficient ${o.instanceType} capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity.`;
  return [
    '<item><launchTemplateAndOverrides><launchTemplateSpecification>',
    `<launchTemplateId>${xmlEscape(lt)}</launchTemplateId><version>${xmlEscape(version)}</version>`,
    '</launchTemplateSpecification><overrides>',
    `<instanceType>${xmlEscape(o.instanceType)}</instanceType><subnetId>${xmlEscape(o.subnetId)}</subnetId>`,
    Number.isFinite(o.priority) ? `<priority>${o.priority}</priority>` : '',
    '</overrides></launchTemplateAndOverrides>',
    `<lifecycle>${xmlEscape(lifecycle)}</lifecycle><errorCode>InsufficientInstanceCapacity</errorCode><errorMessage>${xmlEscape(message)}</errorMessage></item>`,
  ].join('');
}

/** The <item>s of a response's fleetInstanceSet (moto writes it whole or as an empty element). */
function instanceItems(xml: string): string {
  return /<fleetInstanceSet>([\s\S]*)<\/fleetInstanceSet>/.exec(xml)?.[1] ?? '';
}

const countInstanceIds = (xml: string): number => (instanceItems(xml).match(/<instanceIds>[\s\S]*?<\/instanceIds>/g) ?? []).reduce((n, ids) => n + (ids.match(/<item>/g) ?? []).length, 0);


interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function forward(upstream: URL, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const h = { ...headers, host: upstream.host, 'content-length': String(body.length) };
    delete h['transfer-encoding'];
    const req = request({ host: upstream.hostname, port: upstream.port, method, path, headers: h, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('upstream timed out after 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function startEc2CapacityProxy(opts: CapacityProxyOptions): Promise<CapacityProxy> {
  const upstream = new URL(opts.upstream);
  const left = new Map(Object.entries(opts.capacity));
  const records: ProxyRecord[] = [];
  const record = (r: ProxyRecord) => {
    records.push(r);
    opts.onRecord?.(r);
  };

  const createFleet = async (req: IncomingMessage, params: URLSearchParams): Promise<Upstream> => {
    const target = Number(params.get('TargetCapacitySpecification.TotalTargetCapacity') ?? '0');
    const lifecycle = params.get('TargetCapacitySpecification.DefaultTargetCapacityType') ?? 'on-demand';
    const overrides = overridesOf(params);
    const types = [...new Set(overrides.map((o) => o.instanceType))];
    const refused: Override[] = [];
    const launched: Record<string, number> = {};
    const answers: Upstream[] = [];
    let need = target;
    for (const type of types) {
      if (need <= 0) break;
      const ofType = overrides.filter((o) => o.instanceType === type);
      const cap = left.get(type) ?? Infinity;
      const grant = Math.min(need, cap);
      let n = 0;
      if (grant > 0) {
        const a = await forward(upstream, 'POST', req.url ?? '/', req.headers, Buffer.from(narrowed(params, ofType, grant, `-${type}`)));
        if (a.status !== 200) return a; // moto refused the request itself: its answer, unchanged
        n = countInstanceIds(a.body.toString('utf8'));
        launched[type] = n;
        if (left.has(type)) left.set(type, cap - n);
        answers.push(a);
      }
      // This type ran out before giving what was still needed: EC2 reports each of its overrides.
      if (n < need) refused.push(...ofType);
      need -= n;
    }
    // Nothing could be given: moto still makes the fleet (nothing launched), so its id is a real one.
    if (answers.length === 0) {
      const a = await forward(upstream, 'POST', req.url ?? '/', req.headers, Buffer.from(narrowed(params, overrides, 0, '-none')));
      if (a.status !== 200) return a;
      answers.push(a);
    }
    const first = answers[0] as Upstream;
    let xml = first.body.toString('utf8');
    const items = answers.map((a) => instanceItems(a.body.toString('utf8'))).join('');
    xml = /<fleetInstanceSet>[\s\S]*<\/fleetInstanceSet>|<fleetInstanceSet\s*\/>/.test(xml)
      ? xml.replace(/<fleetInstanceSet>[\s\S]*<\/fleetInstanceSet>|<fleetInstanceSet\s*\/>/, `<fleetInstanceSet>${items}</fleetInstanceSet>`)
      : xml.replace('</CreateFleetResponse>', `<fleetInstanceSet>${items}</fleetInstanceSet></CreateFleetResponse>`);
    if (refused.length > 0) {
      const errors = `<errorSet>${refused.map((o) => errorItem(params, o, lifecycle)).join('')}</errorSet>`;
      xml = xml.replace(/<errorSet\s*\/>|<errorSet>[\s\S]*?<\/errorSet>/, '');
      xml = xml.replace('</CreateFleetResponse>', `${errors}</CreateFleetResponse>`);
    }
    record({ action: 'CreateFleet', status: 200, fleet: { target, lifecycle, launched, refused: refused.map((o) => ({ instanceType: o.instanceType, subnetId: o.subnetId })) } });
    return { ...first, body: Buffer.from(xml, 'utf8') };
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req, MAX_BODY_BYTES);
      if (body === undefined) {
        res.writeHead(413).end();
        return;
      }
      const form = (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded');
      const params = form ? new URLSearchParams(body.toString('utf8')) : new URLSearchParams();
      const action = params.get('Action') ?? `${req.method ?? ''} ${req.url ?? ''}`;
      let answer: Upstream;
      if (action === 'CreateFleet' && params.get('Type') === 'instant') {
        answer = await createFleet(req, params);
        if (answer.status !== 200) record({ action, status: answer.status });
      } else {
        answer = await forward(upstream, req.method ?? 'GET', req.url ?? '/', req.headers, body);
        record({ action, status: answer.status });
      }
      const hold = opts.delayMs?.[action];
      if (hold !== undefined) await new Promise((r) => setTimeout(r, hold));
      const headers = { ...answer.headers, 'content-length': String(answer.body.length) };
      delete headers['transfer-encoding'];
      res.writeHead(answer.status, headers);
      res.end(answer.body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`capacity proxy: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  server.requestTimeout = 120_000;
  const bound = await listen(server, opts.host, opts.port);
  return { endpoint: `http://${bound.authority}`, records, stop: bound.stop };
}
