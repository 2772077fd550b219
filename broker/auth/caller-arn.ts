// From the ARN sts:GetCallerIdentity names to the principal a cluster records as its owner.
//   arn:aws:sts::ACCT:assumed-role/ROLE/SESSION  → id arn:aws:iam::ACCT:role/ROLE, person SESSION
//   arn:aws:iam::ACCT:user/PATH/NAME             → id that ARN,                     person NAME
//   arn:aws:sts::ACCT:federated-user/NAME        → id that ARN,                     person NAME
//   arn:aws:iam::ACCT:root                       → id that ARN,                     person root
// A session ARN carries no role path: a role made with a path (role/team/ROLE) is known here as role/ROLE,
// and that is what a grant must name. (Finding the path would need iam:GetRole on every login.)
import { SkiffError, echo } from '../api/errors.js';

export interface CallerPrincipal {
  id: string;
  person: string;
  account: string;
}

const ARN = /^arn:(aws|aws-cn|aws-us-gov):(iam|sts)::(\d{12}):(.+)$/;

export function principalFromArn(arn: string): CallerPrincipal {
  const m = ARN.exec(arn);
  if (!m) throw new SkiffError('BRK_UNAUTHORIZED', `STS named a caller ${echo(arn, 200)} that is not an IAM or STS ARN`);
  const [, partition, service, account, resource] = m as unknown as [string, string, string, string, string];
  const parts = resource.split('/');
  const kind = parts[0];
  if (service === 'sts' && kind === 'assumed-role' && parts.length >= 3 && parts[1] && parts.at(-1)) {
    return { id: `arn:${partition}:iam::${account}:role/${parts[1]}`, person: parts.at(-1) as string, account };
  }
  if (service === 'sts' && kind === 'federated-user' && parts.length === 2 && parts[1]) return { id: arn, person: parts[1], account };
  if (service === 'iam' && kind === 'user' && parts.length >= 2 && parts.at(-1)) return { id: arn, person: parts.at(-1) as string, account };
  if (service === 'iam' && resource === 'root') return { id: arn, person: 'root', account };
  throw new SkiffError('BRK_UNAUTHORIZED', `STS named a caller ${echo(arn, 200)} of a kind skiff does not know (an IAM user or an assumed-role session is expected)`);
}
