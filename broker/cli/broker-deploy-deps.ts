// The broker's part of `skiff setup aws` deploying it (provisioner/aws/broker-deploy.ts asks for these): who a
// caller is as a grant names them, the broker CA, the store's table and its first admin grant, each done by the
// broker's own code so the table and grants are exactly what `skiff broker --deployed` reads.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { principalFromArn } from '../auth/caller-arn.js';
import { createBrokerCa } from '../deployed/broker-ca.js';
import { ensureStoreTable, openDynamoStore } from '../store/dynamo-store.js';
import type { BrokerDeployDeps } from '../../provisioner/aws/broker-deploy.js';

export function brokerDeployDeps(dynamo: DynamoDBClient, now: () => Date = () => new Date()): BrokerDeployDeps {
  return {
    principalId: (arn) => principalFromArn(arn).id,
    createCa: async (workspace) => {
      const ca = await createBrokerCa({ workspace, now });
      return { certPem: ca.certPem, keyPem: ca.keyPem };
    },
    ensureStore: async (table) => ((await ensureStoreTable(dynamo, table)).created ? 'created' : 'exists'),
    ensureAdminGrant: async (table, principalId) => {
      const store = openDynamoStore({ table, client: dynamo });
      try {
        if ((await store.accessGrants()).some((g) => g.pattern === principalId && g.admin)) return 'exists';
        await store.putAccessGrant({ pattern: principalId, admin: true, grantedBy: 'skiff setup aws', grantedAt: now().toISOString() });
        return 'created';
      } finally {
        await Promise.resolve(store.close());
      }
    },
  };
}
