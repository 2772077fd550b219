// The store contract (test/helpers/store-contract.ts) on DynamoDB: moto's, through the real SDK client, two clients
// (two brokers) on one table where the contract races writers; and the table's own setup (ensureStoreTable).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DescribeContinuousBackupsCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureStoreTable, openDynamoStore } from '../../broker/store/dynamo-store.js';
import { isSkiffError } from '../../broker/api/errors.js';
import { startMoto } from '../helpers/moto.js';
import { storeContract, record } from '../helpers/store-contract.js';

process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
// Serial: the contract races writers, and only one request at a time makes moto's conditional writes atomic as DynamoDB's.
const moto = await startMoto({ serial: true });
t.teardown(() => moto.stop());
const client = () => new DynamoDBClient({ ...moto.clientConfig, maxAttempts: 3 });
const admin = client();
t.teardown(() => admin.destroy());

storeContract(t, async () => {
  const table = `skiff-t${randomBytes(4).toString('hex')}`;
  await ensureStoreTable(admin, table);
  // A client per store opened: each is a broker of its own.
  return { open: () => Promise.resolve(openDynamoStore({ table, client: client() })), concurrentOpen: true };
});

t.test('ensureStoreTable makes an on-demand table with point-in-time recovery, once; a rerun changes nothing', async (t) => {
  const table = 'skiff-setup';
  t.same(await ensureStoreTable(admin, table), { created: true });
  t.same(await ensureStoreTable(admin, table), { created: false }, 'idempotent');
  const d = (await admin.send(new DescribeTableCommand({ TableName: table }))).Table;
  t.equal(d?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
  t.same(d?.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }]);
  const b = await admin.send(new DescribeContinuousBackupsCommand({ TableName: table }));
  t.equal(b.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus, 'ENABLED');
});

t.test('a table of that name with another key schema is refused, naming it', async (t) => {
  await admin.send(new CreateTableCommand({
    TableName: 'not-ours', BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
  }));
  const err = await ensureStoreTable(admin, 'not-ours').catch((e: unknown) => e);
  t.ok(isSkiffError(err, 'BRK_CONFIG'));
  t.match((err as Error).message, /not-ours exists with key schema id:HASH.*pick another table name/);
});

t.test('a missing table is one clear error saying how to make it', async (t) => {
  const s = openDynamoStore({ table: 'skiff-missing', client: admin });
  const err = await s.putCluster(record('c1')).catch((e: unknown) => e);
  t.ok(isSkiffError(err, 'BRK_STORE_UNAVAILABLE'));
  t.match((err as Error).message, 'DynamoDB table skiff-missing does not exist; `skiff setup aws` makes it');
  t.equal((err as { retryable?: boolean }).retryable, false);
});

t.test('a DynamoDB that does not answer fails within the request bound, retryable', async (t) => {
  const dead = new DynamoDBClient({ ...moto.clientConfig, endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
  t.teardown(() => dead.destroy());
  const s = openDynamoStore({ table: 'x', client: dead, requestTimeoutMs: 2000 });
  const err = await s.cluster('c1').catch((e: unknown) => e);
  t.ok(isSkiffError(err, 'BRK_STORE_UNAVAILABLE'), String(err));
  t.equal((err as { retryable?: boolean }).retryable, true);
});
