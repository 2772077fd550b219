import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../../../../broker/store/store.js';

t.test('the journal store keeps access grants across a reopen; a revoke says whether there was one', async (t) => {
  const path = join(t.testdir(), 'store.jsonl');
  const s = openStore(path);
  const g = { pattern: 'arn:aws:iam::123456789012:role/data-*', admin: false, grantedBy: 'arn:aws:iam::123456789012:user/boss', grantedAt: '2026-12-07T12:00:00.000Z' };
  await s.putAccessGrant({ pattern: 'arn:aws:iam::123456789012:user/boss', admin: true, grantedBy: 'skiff broker --admin', grantedAt: g.grantedAt });
  await s.putAccessGrant(g);
  t.equal(await s.deleteAccessGrant('arn:aws:iam::123456789012:user/nobody'), false);
  s.close();
  const r = openStore(path);
  t.same((await r.accessGrants()).map((x) => x.pattern), ['arn:aws:iam::123456789012:role/data-*', 'arn:aws:iam::123456789012:user/boss']);
  t.equal(await r.deleteAccessGrant(g.pattern), true);
  t.same((await r.accessGrants()).map((x) => x.pattern), ['arn:aws:iam::123456789012:user/boss']);
  r.close();
});
