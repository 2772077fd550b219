// What `skiff setup aws` publishes for a workspace's deployed broker, made in moto the same way (a KMS key with its
// alias, the broker CA in Secrets Manager encrypted with it, the record in SSM), and an IMDSv2 stand-in on
// 127.0.0.1 that tells a broker its addresses. The store's table and its first admin grant too. For tests of `skiff broker --deployed` as a local process.
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { ensureStoreTable, openDynamoStore } from '../../broker/store/dynamo-store.js';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { brokerCaSecretName, brokerParameterName, workspaceKmsAlias, type DeployedBrokerParameter } from '../../broker/api/deployed-broker.js';
import { createBrokerCa } from '../../broker/deployed/broker-ca.js';
import type { CaMaterial } from '../../broker/pki/ca.js';
import type { Moto } from './moto.js';

export interface PublishedWorkspace {
  ca: CaMaterial;
  record: DeployedBrokerParameter;
  kmsKeyId: string;
  /** The IAM user stored as the first admin (who ran setup), and its keys (for a CLI's environment). */
  adminArn: string;
  adminKeys: { accessKeyId: string; secretAccessKey: string };
  /** Publishes another record (e.g. with another CA) over the first. */
  republish(record: DeployedBrokerParameter): Promise<void>;
}

export async function publishWorkspace(moto: Moto, workspace: string, url: string): Promise<PublishedWorkspace> {
  const kms = new KMSClient(moto.clientConfig);
  const key = await kms.send(new CreateKeyCommand({ Description: `skiff workspace ${workspace}` }));
  const kmsKeyId = key.KeyMetadata?.KeyId ?? '';
  await kms.send(new CreateAliasCommand({ AliasName: workspaceKmsAlias(workspace), TargetKeyId: kmsKeyId }));
  const ca = await createBrokerCa({ workspace });
  await new SecretsManagerClient(moto.clientConfig).send(new CreateSecretCommand({
    Name: brokerCaSecretName(workspace), KmsKeyId: kmsKeyId, SecretString: JSON.stringify({ certPem: ca.certPem, keyPem: ca.keyPem }),
  }));
  const record: DeployedBrokerParameter = {
    url, caPem: ca.certPem, brokerId: `skiff-${workspace}-test`, region: moto.clientConfig.region, table: `skiff-${workspace}`, kmsKeyId: workspaceKmsAlias(workspace), version: '0.1.0',
  };
  const ssm = new SSMClient(moto.clientConfig);
  const republish = async (r: DeployedBrokerParameter) => {
    await ssm.send(new PutParameterCommand({ Name: brokerParameterName(workspace), Type: 'String', Value: JSON.stringify(r), Overwrite: true }));
  };
  await republish(record);
  // The table and the first admin, as setup stores them: an IAM user of the account (moto's STS names the user of
  // keys it issued; its default keys name no real kind of caller).
  const dynamo = new DynamoDBClient(moto.clientConfig);
  await ensureStoreTable(dynamo, record.table);
  const iam = new IAMClient(moto.clientConfig);
  const user = (await iam.send(new CreateUserCommand({ UserName: `setup-${workspace}` }))).User;
  const access = (await iam.send(new CreateAccessKeyCommand({ UserName: `setup-${workspace}` }))).AccessKey;
  const adminArn = user?.Arn ?? '';
  const adminKeys = { accessKeyId: access?.AccessKeyId ?? '', secretAccessKey: access?.SecretAccessKey ?? '' };
  const store = openDynamoStore({ table: record.table, client: dynamo });
  await store.putAccessGrant({ pattern: adminArn, admin: true, grantedBy: 'skiff setup aws', grantedAt: new Date().toISOString() });
  await store.close();
  dynamo.destroy();
  return { ca, record, kmsKeyId, adminArn, adminKeys, republish };
}

export interface ImdsStandin {
  url: string;
  seen: string[];
}

/** IMDSv2 on 127.0.0.1: a session token, then public-ipv4 and local-ipv4 (both given) for requests carrying it. */
export async function startImdsStandin(t: Test, addresses: { publicIp: string; privateIp: string }): Promise<ImdsStandin> {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.end('imds-token');
    if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-token') return void res.writeHead(401).end();
    if (req.url === '/latest/meta-data/public-ipv4') return void res.end(addresses.publicIp);
    if (req.url === '/latest/meta-data/local-ipv4') return void res.end(addresses.privateIp);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
