import t from 'tap';
import { agentBoundaryName, agentLogsPolicy, agentRoleName, agentTrustPolicy, clusterAgentLogsPolicy, clusterAgentRoleName } from '../../../../provisioner/plan/agent-role.js';

t.test('the role is named after the workspace and trusted by EC2 only', async (t) => {
  t.equal(agentRoleName('team-a'), 'skiff-agent-team-a');
  t.ok(agentRoleName('a'.repeat(31)).length <= 64, 'fits IAM role names');
  t.same(JSON.parse(agentTrustPolicy()), {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
});

t.test('the boundary allows the five log actions on the workspace group and its streams, nothing else', async (t) => {
  const doc = JSON.parse(agentLogsPolicy('dev')) as { Statement: { Effect: string; Action: string[]; Resource: string[] }[] };
  t.equal(doc.Statement.length, 1);
  const s = doc.Statement[0];
  t.equal(s?.Effect, 'Allow');
  t.same([...(s?.Action ?? [])].sort(), ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents', 'logs:PutRetentionPolicy']);
  t.same(s?.Resource, ['arn:aws:logs:*:*:log-group:/skiff/dev', 'arn:aws:logs:*:*:log-group:/skiff/dev:*', 'arn:aws:logs:*:*:log-group:/skiff/dev:log-stream:*']);
  // IAM wildcards: `*` matches any characters, so a resource ending in `dev*` would also reach /skiff/dev2.
  for (const r of s?.Resource ?? []) t.notMatch(r, /\/skiff\/dev\*/, `${r} does not reach another workspace's group`);
});

type Statement = { Effect: string; Action: string[]; Resource: string[] };
/** IAM's matching of an Allow-only identity policy: actions case-insensitively, resources case-sensitively, `*` any run of characters, `?` one. */
function allows(policy: string, action: string, resource: string): boolean {
  const glob = (pattern: string, flags: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, flags);
  const doc = JSON.parse(policy) as { Statement: Statement[] };
  return doc.Statement.some((s) => s.Effect === 'Allow' && s.Action.some((a) => glob(a, 'i').test(action)) && s.Resource.some((r) => glob(r, '').test(resource)));
}

t.test("a cluster's role writes log events to its own cluster's streams only", async (t) => {
  const group = 'arn:aws:logs:us-east-1:123456789012:log-group:/skiff/dev';
  const own = clusterAgentLogsPolicy('dev', 'c1');
  t.ok(allows(own, 'logs:PutLogEvents', `${group}:log-stream:c1/i-0abc`), 'its own machine\'s stream');
  t.ok(allows(own, 'logs:PutLogEvents', `${group}:log-stream:c1/scheduler`));
  t.notOk(allows(own, 'logs:PutLogEvents', `${group}:log-stream:c2/i-0abc`), "another cluster's stream");
  t.notOk(allows(own, 'logs:PutLogEvents', `${group}:log-stream:c10/i-0abc`), 'a cluster whose id begins with its own');
  t.notOk(allows(own, 'logs:PutLogEvents', `arn:aws:logs:us-east-1:123456789012:log-group:/skiff/dev2:log-stream:c1/i-0abc`), "another workspace's group");
  t.ok(allows(own, 'logs:CreateLogStream', `${group}:log-stream:c1/i-0abc`) || allows(own, 'logs:CreateLogStream', `${group}`), 'it creates its streams');
  t.ok(allows(own, 'logs:DescribeLogStreams', group));
  t.notOk(allows(own, 'logs:DeleteLogStream', `${group}:log-stream:c2/i-0abc`), 'nor delete anything');
  // The workspace-wide policy of older skiffs let any cluster's machine write to every stream of the group.
  t.ok(allows(agentLogsPolicy('dev'), 'logs:PutLogEvents', `${group}:log-stream:c2/i-0abc`), '(what the boundary alone allows)');
});

t.test('cluster roles are named per cluster within IAM\'s 64 characters', async (t) => {
  t.equal(clusterAgentRoleName('team-a', 'c7f3a9e01b2'), 'skiff-agent-team-a-c7f3a9e01b2');
  const long = clusterAgentRoleName('w'.repeat(31), 'x'.repeat(63));
  t.ok(long.length <= 64, `a long id is hashed (${long})`);
  t.not(long, clusterAgentRoleName('w'.repeat(31), `${'x'.repeat(62)}y`), 'two long ids stay apart');
  t.equal(agentBoundaryName('team-a'), 'skiff-agent-boundary-team-a');
});
