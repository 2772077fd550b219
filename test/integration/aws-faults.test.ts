// Must-show 3: a run that fails at the k-th API call, for every k, leaves after the next `up` (or `gc`) no
// orphaned resource and no duplicate. The calls counted are plan()'s (read-only: a failure there leaves
// nothing) and apply()'s. Both failure modes: the call never reaches AWS ('before'), and AWS
// acts but the answer is lost ('after', so the resource exists and the caller never learnt its id).
// The agents' IAM role is a workspace resource like the shared network: a failed apply keeps what it made of
// it, and the next up completes it (checked below: the profile holds the role, the role has its policy).
// This file runs the 'before' mode; aws-faults-after.test.ts imports it with SKIFF_FAULT_MODE=after, so the
// two halves run as separate tap files (in parallel, each well inside the per-file timeout).
import t from 'tap';
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient, GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { startMoto } from '../helpers/moto.js';
import { awsTestDeps, awsTestSpec, useTestImagesInMoto } from '../helpers/aws.js';
import { createSdkPort } from '../../provisioner/aws/aws-port.js';
import { instrumentPort } from '../../provisioner/aws/instrument-port.js';
import { createAwsBackend, makeContext } from '../../provisioner/aws/aws-backend.js';
import { countByKind, listSkiffResources } from '../../provisioner/aws/inventory.js';
import { collectGarbage } from '../../provisioner/aws/gc.js';
import { allowedActions, ongoingPolicy, setupPolicy } from '../../provisioner/aws/policies.js';
import type { ClusterSpec } from '../../provisioner/backend.js';

useTestImagesInMoto();
const moto = await startMoto();
t.teardown(() => moto.stop());
const iam = new IAMClient(moto.clientConfig);
const raw = createSdkPort({ ec2: new EC2Client(moto.clientConfig), logs: new CloudWatchLogsClient(moto.clientConfig), iam });
const ins = instrumentPort(raw);
const deps = awsTestDeps(ins.port);
const backend = createAwsBackend(deps);
// Inventory through the raw port so it neither counts as a call nor trips an armed failure.
const ctx = makeContext({ ...deps, portFor: () => raw }, 'us-east-1');

const spec = (clusterId: string): ClusterSpec => awsTestSpec(clusterId, 2, { ssh_from: '203.0.113.7' });

const NETWORK = { vpc: 1, subnet: 12, 'internet-gateway': 1, 'route-table': 2, 'elastic-ip': 1, 'nat-gateway': 1 };

// How many calls a clean first `up` makes: every k from 1 to that is a failure point.
await moto.reset();
ins.reset();
await backend.apply(spec('c-count'), await backend.plan(spec('c-count')));
// plan() and apply() together: every call of both is a failure point.
const totalCalls = ins.actions.length;
const allCalls = [...ins.actions];

const mode = process.env['SKIFF_FAULT_MODE'] === 'after' ? 'after' : 'before';
{
  t.test(`failing call k (${mode} AWS acts) for every k of ${totalCalls}: the next up converges, gc leaves no orphan`, async (t) => {
    const problems: string[] = [];
    for (let k = 1; k <= totalCalls; k++) {
      await moto.reset();
      ins.reset();
      ins.failAt(k, mode);
      const failed = spec(`c-fail-${k}`);
      const err = await backend.plan(failed).then((p) => backend.apply(failed, p)).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (err === undefined) {
        problems.push(`k=${k}: apply did not fail`);
        continue;
      }
      const failedAt = ins.actions[k - 1];
      ins.failAt(0, mode);
      // gc: nothing of the failed cluster may be left over (apply cleans up; gc is the backstop).
      const garbage = await collectGarbage(ctx, { liveClusterIds: [], confirm: false });
      if (garbage.length > 0) problems.push(`k=${k} (${failedAt}): gc found ${garbage.map((g) => `${g.kind} ${g.id}`).join(', ')}`);
      // The next up of another cluster converges: exactly one of each network resource, only its machines.
      const next = spec(`c-next-${k}`);
      await backend.apply(next, await backend.plan(next));
      allCalls.push(...ins.actions);
      // The cluster's agent role converged too: the profile holds the role, the role has its logs policy.
      const agent = `skiff-agent-default-c-next-${k}`;
      const profile = await raw.getInstanceProfile({ InstanceProfileName: agent });
      const roles = (profile.InstanceProfile?.Roles ?? []).map((r) => r.RoleName);
      const policy = await iam.send(new GetRolePolicyCommand({ RoleName: agent, PolicyName: 'skiff-agent-logs' })).then(
        (o) => decodeURIComponent(o.PolicyDocument ?? ''),
        () => undefined,
      );
      if (JSON.stringify(roles) !== JSON.stringify([agent]) || !policy?.includes('logs:PutLogEvents')) {
        problems.push(`k=${k} (${failedAt}): agent profile holds ${JSON.stringify(roles)}, policy ${policy ?? 'missing'}`);
      }
      const counts = countByKind(await listSkiffResources(ctx));
      const want = { ...NETWORK, 'security-group': 2, 'launch-template': 1, instance: 3 };
      if (JSON.stringify(counts, Object.keys(want).sort()) !== JSON.stringify(want, Object.keys(want).sort())) {
        problems.push(`k=${k} (${failedAt}): after the next up ${JSON.stringify(counts)}`);
      }
    }
    t.same(problems, [], `no orphan and no duplicate for any of ${totalCalls} failure points`);
  });
}

t.test('the actions called on every failure path are in the policy documents', async (t) => {
  const allowed = allowedActions(setupPolicy(), ongoingPolicy());
  t.same([...new Set(allCalls)].filter((a) => !allowed.has(a)), []);
});
