import t from 'tap';
import { AWS_ACTIONS, iamActionOf } from '../../../../provisioner/aws/aws-port.js';
import { allowedActions, destructiveActions, ongoingPolicy, setupPolicy } from '../../../../provisioner/aws/policies.js';

t.test('every destructive EC2 action is allowed only on resources tagged owner=skiff', async (t) => {
  const destructive = /^ec2:(Delete|Terminate|Detach|Disassociate|Release)/;
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
