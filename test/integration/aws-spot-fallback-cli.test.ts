// `skiff up --spot-policy spot_with_fallback` in an account where EC2 refuses spot (the fault proxy in front of moto
// answers AWS's AuthFailure.ServiceLinkedRoleCreationNotPermitted): the workers run on-demand, and the user is told
// so with EC2's reason by up, by status and in the notifications, never silently at on-demand prices.
import t from 'tap';
import { makeHome } from '../helpers/skiff.js';
import { startMoto } from '../helpers/moto.js';
import { startAwsFaultProxy } from '../helpers/aws-fault-proxy.js';

t.test('spot_with_fallback ending on-demand is said by up, kept by status and notified', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const proxy = await startAwsFaultProxy({ upstream: moto.endpoint });
  t.teardown(() => proxy.stop());
  proxy.add({
    action: 'CreateFleet',
    when: (p) => p.get('TargetCapacitySpecification.DefaultTargetCapacityType') === 'spot',
    status: 403,
    code: 'AuthFailure.ServiceLinkedRoleCreationNotPermitted',
    message: 'The provided credentials do not have permission to create the service-linked role for EC2 Spot Instances.',
  });
  const h = makeHome();
  Object.assign(h.env, moto.env, { AWS_ENDPOINT_URL: proxy.endpoint });
  t.teardown(() => h.cleanup());

  const told = /spot_with_fallback: 2 of 2 workers run on-demand, at on-demand prices; spot gave 0 \(any type: AuthFailure\.ServiceLinkedRoleCreationNotPermitted\)/;
  const up = await h.run(['up', '--backend', 'aws', '--workers', '2', '--name', 'thrifty', '--spot-policy', 'spot_with_fallback', '--no-wait', '--json', '--ssh-from', '203.0.113.7']);
  t.equal(up.code, 0, up.stderr);
  t.match(JSON.parse(up.stdout), { state: 'starting' });
  t.match(up.stderr, told, 'up says so while it follows the cluster');
  const status = await h.run(['status', 'thrifty']);
  t.match(status.stdout, told, 'status keeps it');
  const notes = await h.run(['notifications', 'thrifty', '--json']);
  const lines = notes.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state?: string; reason?: string });
  t.match(lines.find((n) => n.state === 'starting'), { reason: told }, 'the move to starting is notified with it');
  const down = await h.run(['down', 'thrifty']);
  t.equal(down.code, 0, down.stderr);
  const del = await h.run(['network', 'delete']);
  t.equal(del.code, 0, del.stderr);
});
