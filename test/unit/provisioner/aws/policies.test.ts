import t from 'tap';
import { AWS_ACTIONS, iamActionOf } from '../../../../provisioner/aws/aws-port.js';
import { allowedActions, destructiveActions, ongoingPolicy, setupPolicy } from '../../../../provisioner/aws/policies.js';

t.test('every destructive EC2 and IAM action is allowed only on resources tagged owner=skiff', async (t) => {
  const destructive = /^(ec2:(Delete|Terminate|Detach|Disassociate|Release)|iam:(Delete|Remove|PutRolePolicy|AddRole))/;
  for (const doc of [setupPolicy(), ongoingPolicy()]) {
    const conditioned = new Set(destructiveActions(doc));
    for (const s of doc.Statement) {
      for (const a of s.Action) {
        if (destructive.test(a)) t.ok(conditioned.has(a), `${a} (${s.Sid}) is conditioned on owner=skiff`);
      }
    }
  }
});

t.test('every action the port can call is in one of the two documents', async (t) => {
  const allowed = allowedActions(setupPolicy(), ongoingPolicy());
  for (const a of AWS_ACTIONS) t.ok(allowed.has(iamActionOf(a)), iamActionOf(a));
});

t.test('documents are valid IAM JSON shaped like the reference (Version, Sid, Effect, Resource, Action)', async (t) => {
  for (const doc of [setupPolicy(), ongoingPolicy()]) {
    const parsed = JSON.parse(JSON.stringify(doc, null, 2)) as typeof doc;
    t.equal(parsed.Version, '2012-10-17');
    const sids = parsed.Statement.map((s) => s.Sid);
    t.equal(new Set(sids).size, sids.length, 'Sids are unique');
    for (const s of parsed.Statement) {
      t.equal(s.Effect, 'Allow');
      t.ok(s.Action.length > 0);
      t.same([...s.Action].sort(), [...new Set(s.Action)].sort(), `${s.Sid} lists each action once`);
    }
  }
  t.match(setupPolicy().Statement.map((s) => s.Sid), ['Setup', 'SetupDestructive']);
  t.match(ongoingPolicy().Statement.map((s) => s.Sid), ['Ongoing']);
});

t.test('IAM actions other than the fleet service roles and listing reach only skiff roles, instance profiles and boundaries', async (t) => {
  const lists = new Set(['iam:ListPolicies', 'iam:ListRoles']);
  for (const doc of [setupPolicy(), ongoingPolicy()]) {
    for (const s of doc.Statement.filter((x) => x.Action.some((a) => a.startsWith('iam:')) && x.Sid !== 'SetupFleetServiceRoles' && x.Sid !== 'SetupSpotRoleRead')) {
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      t.ok(resources.length > 0, `${s.Sid} names its resources`);
      if (s.Action.every((a) => lists.has(a))) {
        t.same(resources, ['*'], `${s.Sid} only lists (IAM's list actions take no resource)`);
        continue;
      }
      for (const r of resources) t.match(r, /^arn:aws:iam::\*:((role|instance-profile)\/skiff-(agent|broker)-|policy\/skiff\/skiff-agent-boundary-)/, `${s.Sid}: ${r}`);
    }
  }
  const spotRead = setupPolicy().Statement.find((s) => s.Sid === 'SetupSpotRoleRead');
  t.match(spotRead, { Action: ['iam:GetRole'], Resource: 'arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot' }, 'the Spot service-linked role is only read, by its exact name');
  const passRole = ongoingPolicy().Statement.find((s) => s.Action.includes('iam:PassRole'));
  t.same(passRole?.Condition, { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } }, 'running clusters pass the role to EC2 only');
  const boundary = { StringLike: { 'iam:PermissionsBoundary': 'arn:aws:iam::*:policy/skiff/skiff-agent-boundary-*' } };
  const all = [...setupPolicy().Statement, ...ongoingPolicy().Statement];
  const reaches = (s: (typeof all)[number], prefix: string) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).some((r) => r.includes(prefix));
  const creates = all.filter((s) => s.Action.includes('iam:CreateRole') && reaches(s, 'role/skiff-agent-'));
  t.equal(creates.length, 1, 'one statement creates agent roles');
  t.same(creates[0]?.Condition, { StringEquals: { 'aws:RequestTag/owner': 'skiff' }, ...boundary }, 'an agent role can only be created tagged owner=skiff and with the boundary');
  const inline = all.filter((s) => s.Action.includes('iam:PutRolePolicy') && reaches(s, 'role/skiff-agent-'));
  t.equal(inline.length, 1);
  t.same(inline[0]?.Condition, { StringEquals: { 'aws:ResourceTag/owner': 'skiff' }, ...boundary }, 'an inline policy only on a bounded agent role of skiff');
  // The deployed broker's own role is made by setup alone (its document: provisioner/plan/broker-plan.ts).
  t.notOk(ongoingPolicy().Statement.some((s) => s.Action.includes('iam:CreateRole') && reaches(s, 'skiff-broker-')), 'running clusters never creates a broker role');
  const escalations = ['iam:AttachRolePolicy', 'iam:PutRolePermissionsBoundary', 'iam:DeleteRolePermissionsBoundary', 'iam:CreatePolicyVersion', 'iam:UpdateAssumeRolePolicy'];
  for (const a of escalations) t.notOk(allowedActions(setupPolicy(), ongoingPolicy()).has(a), `${a} is never allowed (it would lift the boundary or widen a role)`);
});

t.test('the IAM actions the port calls are named in the iam: namespace', async (t) => {
  t.equal(iamActionOf('getInstanceProfile'), 'iam:GetInstanceProfile');
  t.equal(iamActionOf('addRoleToInstanceProfile'), 'iam:AddRoleToInstanceProfile');
  t.equal(iamActionOf('putRetentionPolicy'), 'logs:PutRetentionPolicy');
  t.equal(iamActionOf('createVpc'), 'ec2:CreateVpc');
});
