import t from 'tap';
import { agentLogsPolicy, agentRoleName, agentTrustPolicy } from '../../../../provisioner/plan/agent-role.js';

t.test('the role is named after the workspace and trusted by EC2 only', async (t) => {
  t.equal(agentRoleName('team-a'), 'skiff-agent-team-a');
  t.ok(agentRoleName('a'.repeat(31)).length <= 64, 'fits IAM role names');
  t.same(JSON.parse(agentTrustPolicy()), {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
});

t.test('the inline policy allows the five log actions on the workspace group and its streams, nothing else', async (t) => {
  const doc = JSON.parse(agentLogsPolicy('dev')) as { Statement: { Effect: string; Action: string[]; Resource: string[] }[] };
  t.equal(doc.Statement.length, 1);
  const s = doc.Statement[0];
  t.equal(s?.Effect, 'Allow');
  t.same([...(s?.Action ?? [])].sort(), ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents', 'logs:PutRetentionPolicy']);
  t.same(s?.Resource, ['arn:aws:logs:*:*:log-group:/skiff/dev', 'arn:aws:logs:*:*:log-group:/skiff/dev:*', 'arn:aws:logs:*:*:log-group:/skiff/dev:log-stream:*']);
  // IAM wildcards: `*` matches any characters, so a resource ending in `dev*` would also reach /skiff/dev2.
  for (const r of s?.Resource ?? []) t.notMatch(r, /\/skiff\/dev\*/, `${r} does not reach another workspace's group`);
});
