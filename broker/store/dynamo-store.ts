// The Store on one DynamoDB table (the deployed broker's; one table per workspace, default `skiff-<workspace>`).
// Every broker of the workspace reads and writes the same table, so every write that could race is conditional:
//
//   item (pk, sk)                       what                       written
//   ('cluster', id)                     a cluster record           SET data, ADD v 1; IF v = :read (ifVersion)
//   ('enrol#<cluster>', machineId)      an enrolment               IF attribute_not_exists: once per machine
//   ('cert#<cluster>', serialHex)       an issued certificate      plain put
//   ('counter', 'notification')         the last sequence number   ADD n 1 (atomic), read back
//   ('notification', <seq, 12 digits>)  a notification             IF attribute_not_exists: never twice
//   ('grant', pattern)                  an access grant            plain put / delete
//   ('sealed', id)                      a sealed blob              plain put / delete
//   ('watch', clusterId)                the watchdog's inputs      plain put (coarse: see watch-state.ts)
//   ('lease', name)                     a lease (the leader's)     IF free, expired or ours
//
// Each kind lives in one partition, so a listing is one Query (paged), never a Scan; reads are strongly
// consistent. A notification takes its number from the counter first: a broker that dies between the two leaves a
// gap, never a duplicate, and a put retried after a lost answer is recognised by its random id.

import { randomBytes } from 'node:crypto';
import {
  ConditionalCheckFailedException, CreateTableCommand, DeleteItemCommand, DescribeTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand,
  QueryCommand, ResourceInUseException, ResourceNotFoundException, UpdateContinuousBackupsCommand, UpdateItemCommand,
  type AttributeValue, type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import { SkiffError } from '../api/errors.js';
import {
  alreadyEnrolled, byCreated, versionConflict,
  type AccessGrant, type CertificateRecord, type ClusterRecord, type EnrolmentRecord, type Lease, type NotificationRecord, type Store, type WatchState,
} from './store.js';

export interface DynamoStoreOptions {
  table: string;
  /** A client of the caller's (tests count its requests); else one for `region` (AWS_ENDPOINT_URL applies as usual). */
  client?: DynamoDBClient;
  region?: string;
  /** Bound on each request, retries included. Default 10 s. */
  requestTimeoutMs?: number;
}

type Item = Record<string, AttributeValue>;

/** A DynamoDB item holds at most 400 KB: a record near that is refused before the request, with its size. */
const MAX_ITEM_BYTES = 390_000;
const SEQ_DIGITS = 12;
const seqKey = (seq: number) => String(seq).padStart(SEQ_DIGITS, '0');
const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const key = (pk: string, sk: string): Item => ({ pk: S(pk), sk: S(sk) });
const str = (i: Item | undefined, name: string): string | undefined => i?.[name]?.S;
const num = (i: Item | undefined, name: string): number | undefined => (i?.[name]?.N !== undefined ? Number(i[name].N) : undefined);

export function storeError(action: string, table: string, err: unknown): SkiffError {
  if (err instanceof SkiffError) return err;
  const e = err as { name?: string; message?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? 'Error';
  if (name === 'ResourceNotFoundException') {
    return new SkiffError('BRK_STORE_UNAVAILABLE', `DynamoDB table ${table} does not exist; \`skiff setup aws\` makes it (or start the broker with another --store)`, { cause: err, retryable: false });
  }
  const status = e.$metadata?.httpStatusCode ?? 0;
  // No answer at all (refused, reset, timed out) is as retryable as throttling or a 5xx.
  const retryable = status === 0 || e.$retryable !== undefined || status >= 500 || /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded/.test(name);
  return new SkiffError('BRK_STORE_UNAVAILABLE', `DynamoDB ${action} on table ${table} failed: ${name}: ${e.message ?? ''}`, { cause: err, retryable });
}

export function openDynamoStore(o: DynamoStoreOptions): Store {
  const table = o.table;
  const client = o.client ?? new DynamoDBClient({ ...(o.region ? { region: o.region } : {}), maxAttempts: 3 });
  const ownClient = o.client === undefined;
  const timeoutMs = o.requestTimeoutMs ?? 10_000;

  const send = async <T>(action: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    try {
      return await fn(AbortSignal.timeout(timeoutMs));
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw err;
      throw storeError(action, table, err);
    }
  };
  const get = (pk: string, sk: string): Promise<Item | undefined> =>
    send('GetItem', (abortSignal) => client.send(new GetItemCommand({ TableName: table, Key: key(pk, sk), ConsistentRead: true }), { abortSignal })).then((r) => r.Item);
  const query = async (pk: string, extra: Partial<QueryCommandInput> = {}): Promise<Item[]> => {
    const out: Item[] = [];
    let start: Item | undefined;
    do {
      const r = await send('Query', (abortSignal) => client.send(new QueryCommand({
        TableName: table, ConsistentRead: true, ...extra,
        KeyConditionExpression: `pk = :pk${extra.KeyConditionExpression ? ` AND ${extra.KeyConditionExpression}` : ''}`,
        ExpressionAttributeValues: { ':pk': S(pk), ...extra.ExpressionAttributeValues },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }), { abortSignal }));
      out.push(...(r.Items ?? []));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  };
  const put = (item: Item, condition?: Pick<PutItemInputLike, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>) =>
    send('PutItem', (abortSignal) => client.send(new PutItemCommand({ TableName: table, Item: item, ...condition }), { abortSignal }));
  const del = (pk: string, sk: string, condition?: Pick<PutItemInputLike, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>) =>
    send('DeleteItem', (abortSignal) => client.send(new DeleteItemCommand({ TableName: table, Key: key(pk, sk), ...condition, ReturnValues: 'ALL_OLD' }), { abortSignal }));
  const json = <T>(i: Item | undefined): T | undefined => {
    const d = str(i, 'data');
    return d === undefined ? undefined : (JSON.parse(d) as T);
  };
  const data = (what: string, value: unknown): AttributeValue => {
    const text = JSON.stringify(value);
    if (Buffer.byteLength(text) > MAX_ITEM_BYTES) {
      throw new SkiffError('BRK_INTERNAL', `${what} is ${Buffer.byteLength(text)} bytes as JSON; a DynamoDB item holds at most 400 KB`);
    }
    return S(text);
  };
  const cluster = (i: Item | undefined): ClusterRecord | undefined => {
    const c = json<ClusterRecord>(i);
    return c ? { ...c, version: num(i, 'v') ?? 0 } : undefined;
  };
  const lease = (i: Item | undefined): Lease | undefined =>
    i ? { name: str(i, 'sk') ?? '', holder: str(i, 'holder') ?? '', expiresAtMs: num(i, 'expiresAtMs') ?? 0 } : undefined;

  const clusters = async (): Promise<ClusterRecord[]> => (await query('cluster')).flatMap((i) => cluster(i) ?? []).sort(byCreated);

  return {
    clusters,
    cluster: async (id) => cluster(await get('cluster', id)),
    async findCluster(ref) {
      const byId = cluster(await get('cluster', ref));
      if (byId) return byId;
      const named = await query('cluster', { FilterExpression: '#n = :name', ExpressionAttributeNames: { '#n': 'name' }, ExpressionAttributeValues: { ':name': S(ref) } });
      return named.flatMap((i) => cluster(i) ?? []).sort(byCreated).at(-1);
    },
    async putCluster(c, opts = {}) {
      const { version: _v, ...rest } = c;
      const condition: PutItemInputLike =
        opts.ifVersion === undefined ? {}
        : opts.ifVersion === 0 ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : { ConditionExpression: '#v = :read', ExpressionAttributeValues: { ':read': N(opts.ifVersion) } };
      try {
        const r = await send('UpdateItem', (abortSignal) => client.send(new UpdateItemCommand({
          TableName: table, Key: key('cluster', c.id),
          UpdateExpression: 'SET #d = :d, #n = :name, #c = :created ADD #v :one',
          ...(condition.ConditionExpression !== undefined ? { ConditionExpression: condition.ConditionExpression } : {}),
          ExpressionAttributeNames: { '#d': 'data', '#n': 'name', '#c': 'createdAt', '#v': 'v' },
          ExpressionAttributeValues: { ':d': data(`cluster ${c.id}`, rest), ':name': S(c.name), ':created': S(c.createdAt), ':one': N(1), ...condition.ExpressionAttributeValues },
          ReturnValues: 'UPDATED_NEW',
        }), { abortSignal }));
        return { ...rest, version: num(r.Attributes, 'v') ?? 1 };
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        const found = num(await get('cluster', c.id), 'v') ?? 0;
        throw versionConflict(c.id, opts.ifVersion ?? 0, found);
      }
    },
    enrolment: async (clusterId, machineId) => json<EnrolmentRecord>(await get(`enrol#${clusterId}`, machineId)),
    enrolments: async (clusterId) => (await query(`enrol#${clusterId}`)).flatMap((i) => json<EnrolmentRecord>(i) ?? []),
    async putEnrolment(e) {
      try {
        await put({ ...key(`enrol#${e.clusterId}`, e.machineId), data: data('enrolment', e) }, { ConditionExpression: 'attribute_not_exists(pk)' });
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) throw alreadyEnrolled(e);
        throw err;
      }
    },
    putCertificate: async (c) => void (await put({ ...key(`cert#${c.clusterId}`, c.serialHex), data: data('certificate', c) })),
    certificates: async (clusterId) => (await query(`cert#${clusterId}`)).flatMap((i) => json<CertificateRecord>(i) ?? []),

    async notify(n) {
      const nid = randomBytes(9).toString('base64url');
      for (let attempt = 1; ; attempt++) {
        const r = await send('UpdateItem', (abortSignal) => client.send(new UpdateItemCommand({
          TableName: table, Key: key('counter', 'notification'), UpdateExpression: 'ADD #n :one', ExpressionAttributeNames: { '#n': 'n' }, ExpressionAttributeValues: { ':one': N(1) }, ReturnValues: 'UPDATED_NEW',
        }), { abortSignal }));
        const seq = num(r.Attributes, 'n') ?? 0;
        const rec: NotificationRecord = { ...n, seq };
        try {
          await put({ ...key('notification', seqKey(seq)), data: data('notification', rec), clusterId: S(n.clusterId), nid: S(nid) }, { ConditionExpression: 'attribute_not_exists(pk)' });
          return rec;
        } catch (err) {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
          // Our own put, retried by the SDK after its answer was lost, is done; anything else holds that number.
          if (str(await get('notification', seqKey(seq)), 'nid') === nid) return rec;
          if (attempt >= 5) throw new SkiffError('BRK_INTERNAL', `notification numbers in table ${table} are taken beyond its counter; the table's counter item was changed by hand?`);
        }
      }
    },
    async notifications(clusterId, afterSeq = 0) {
      const items = await query('notification', {
        KeyConditionExpression: 'sk > :after',
        ExpressionAttributeValues: { ':after': S(seqKey(afterSeq)), ...(clusterId !== undefined ? { ':c': S(clusterId) } : {}) },
        ...(clusterId !== undefined ? { FilterExpression: '#cl = :c', ExpressionAttributeNames: { '#cl': 'clusterId' } } : {}),
      });
      return items.flatMap((i) => json<NotificationRecord>(i) ?? []).sort((a, b) => a.seq - b.seq);
    },

    accessGrants: async () => (await query('grant')).flatMap((i) => json<AccessGrant>(i) ?? []).sort((a, b) => a.pattern.localeCompare(b.pattern)),
    putAccessGrant: async (g) => void (await put({ ...key('grant', g.pattern), data: data('access grant', g) })),
    deleteAccessGrant: async (pattern) => (await del('grant', pattern)).Attributes !== undefined,
    getSealed: async (id) => str(await get('sealed', id), 'value'),
    putSealed: async (id, value) => {
      if (Buffer.byteLength(value) > MAX_ITEM_BYTES) throw new SkiffError('BRK_INTERNAL', `sealed blob ${id} is ${Buffer.byteLength(value)} bytes; a DynamoDB item holds at most 400 KB`);
      await put({ ...key('sealed', id), value: S(value) });
    },
    deleteSealed: async (id) => void (await del('sealed', id)),

    putWatch: async (w) => void (await put({ ...key('watch', w.clusterId), data: data('watch state', w) })),
    watches: async () => (await query('watch')).flatMap((i) => json<WatchState>(i) ?? []),
    deleteWatch: async (clusterId) => void (await del('watch', clusterId)),

    async takeLease(name, holder, ttlMs, nowMs) {
      const next: Lease = { name, holder, expiresAtMs: nowMs + ttlMs };
      try {
        await put({ ...key('lease', name), holder: S(holder), expiresAtMs: N(next.expiresAtMs) }, {
          ConditionExpression: 'attribute_not_exists(pk) OR #h = :h OR #e <= :now',
          ExpressionAttributeNames: { '#h': 'holder', '#e': 'expiresAtMs' },
          ExpressionAttributeValues: { ':h': S(holder), ':now': N(nowMs) },
        });
        return next;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        return lease(await get('lease', name)) ?? { name, holder: '', expiresAtMs: 0 };
      }
    },
    async releaseLease(name, holder) {
      try {
        await del('lease', name, { ConditionExpression: '#h = :h', ExpressionAttributeNames: { '#h': 'holder' }, ExpressionAttributeValues: { ':h': S(holder) } });
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    },
    close: () => {
      if (ownClient) client.destroy();
      return Promise.resolve();
    },
  };
}

interface PutItemInputLike {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Item;
}

/**
 * Makes the store's table when it does not exist (on-demand billing, tagged owner=skiff) and turns point-in-time
 * recovery on; a table that exists with another key schema is refused. Idempotent: safe on every deploy.
 */
export async function ensureStoreTable(client: DynamoDBClient, name: string, o: { timeoutMs?: number; pollMs?: number } = {}): Promise<{ created: boolean }> {
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  const describe = async () => {
    try {
      return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw storeError('DescribeTable', name, err);
    }
  };
  let created = false;
  let t = await describe();
  if (!t) {
    try {
      await client.send(new CreateTableCommand({
        TableName: name, BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        Tags: [{ Key: 'owner', Value: 'skiff' }],
      }));
      created = true;
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw storeError('CreateTable', name, err); // another deploy is making it
    }
    t = await describe();
  }
  while (t?.TableStatus !== 'ACTIVE') {
    if (Date.now() > deadline) throw new SkiffError('BRK_STORE_UNAVAILABLE', `DynamoDB table ${name} is ${t?.TableStatus ?? 'missing'}, not ACTIVE, after ${Math.round((o.timeoutMs ?? 120_000) / 1000)} s; try again`, { retryable: true });
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
    t = await describe();
  }
  const schema = (t.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).sort().join(',');
  if (schema !== 'pk:HASH,sk:RANGE') {
    throw new SkiffError('BRK_CONFIG', `DynamoDB table ${name} exists with key schema ${schema || 'unknown'}, not skiff's (pk HASH, sk RANGE); it belongs to something else: pick another table name`);
  }
  try {
    await client.send(new UpdateContinuousBackupsCommand({ TableName: name, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }));
  } catch (err) {
    throw storeError('UpdateContinuousBackups', name, err);
  }
  return { created };
}
