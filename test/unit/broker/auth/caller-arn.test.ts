import t from 'tap';
import { principalFromArn } from '../../../../broker/auth/caller-arn.js';
import { grantCovers, parseGrantPattern } from '../../../../broker/api/auth.js';

t.test('the ARN STS names becomes the principal a cluster records', async (t) => {
  const cases: Array<[string, { id: string; person: string; account: string }]> = [
    ['arn:aws:sts::123456789012:assumed-role/data-team/alice@example.com', { id: 'arn:aws:iam::123456789012:role/data-team', person: 'alice@example.com', account: '123456789012' }],
    ['arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_abc/bob', { id: 'arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_abc', person: 'bob', account: '123456789012' }],
    ['arn:aws:iam::123456789012:user/carol', { id: 'arn:aws:iam::123456789012:user/carol', person: 'carol', account: '123456789012' }],
    ['arn:aws:iam::123456789012:user/division/team/dan', { id: 'arn:aws:iam::123456789012:user/division/team/dan', person: 'dan', account: '123456789012' }],
    ['arn:aws-cn:sts::123456789012:federated-user/erin', { id: 'arn:aws-cn:sts::123456789012:federated-user/erin', person: 'erin', account: '123456789012' }],
    ['arn:aws:iam::123456789012:root', { id: 'arn:aws:iam::123456789012:root', person: 'root', account: '123456789012' }],
  ];
  for (const [arn, want] of cases) t.same(principalFromArn(arn), want, arn);
  t.throws(() => principalFromArn('arn:aws:s3:::bucket'), { code: 'BRK_UNAUTHORIZED' });
  t.throws(() => principalFromArn('arn:aws:iam::123456789012:group/admins'), { code: 'BRK_UNAUTHORIZED', message: /a kind skiff does not know/ });
});

t.test('grant patterns: an exact ARN or a trailing *', async (t) => {
  t.ok(grantCovers('arn:aws:iam::123456789012:role/data-*', 'arn:aws:iam::123456789012:role/data-team'));
  t.notOk(grantCovers('arn:aws:iam::123456789012:role/data-*', 'arn:aws:iam::123456789012:role/admins'));
  t.ok(grantCovers('arn:aws:iam::123456789012:user/bob', 'arn:aws:iam::123456789012:user/bob'));
  t.notOk(grantCovers('arn:aws:iam::123456789012:user/bob', 'arn:aws:iam::123456789012:user/bobby'), 'no prefix without *');
  t.ok(grantCovers('arn:aws:iam::123456789012:*', 'arn:aws:iam::123456789012:user/anyone'));
  t.same(parseGrantPattern('arn:aws:iam::123456789012:role/data-*'), { account: '123456789012' });
  t.match(parseGrantPattern('arn:aws:iam::123456789012:role/da*ta'), { error: /not an IAM user or role ARN/ });
  t.match(parseGrantPattern('*'), { error: /not an IAM user or role ARN/ });
  t.match(parseGrantPattern('arn:aws:sts::123456789012:assumed-role/r/s'), { error: /grant its role instead, arn:aws:iam::123456789012:role\/r/ });
});
