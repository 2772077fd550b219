// Wraps an AwsPort to record every action called (as IAM action names) and, for tests, to fail the k-th
// call: 'before' fails without calling AWS, 'after' lets AWS act and then loses the answer (the harder case:
// the resource exists but the caller never learnt its id). Every port action is wrapped, EC2, Logs and IAM.

import { SkiffError } from '../../broker/api/errors.js';
import { AWS_ACTIONS, iamActionOf, type AwsPort } from './aws-port.js';

export interface Instrumented {
  port: AwsPort;
  /** IAM action names in call order, e.g. ['ec2:DescribeVpcs', 'ec2:CreateVpc', ...]. */
  actions: string[];
  /** Arm a failure at the k-th call counted from now (1-based). */
  failAt(k: number, mode: 'before' | 'after'): void;
  reset(): void;
}

export function instrumentPort(inner: AwsPort): Instrumented {
  const actions: string[] = [];
  let countdown = 0;
  let mode: 'before' | 'after' = 'before';
  const port: Record<string, unknown> = {};
  for (const action of AWS_ACTIONS) {
    const name = iamActionOf(action);
    const fn = inner[action] as (input: unknown) => Promise<unknown>;
    port[action] = async (input: unknown) => {
      actions.push(name);
      const fail = countdown > 0 && --countdown === 0;
      const injected = () => new SkiffError('PRV_CLOUD_ERROR', `injected failure in ${name}`, { retryable: true });
      if (fail && mode === 'before') throw injected();
      if (!fail) return fn.call(inner, input);
      // 'after': whatever AWS answered (a result, or an error such as IAM's NoSuchEntity) is lost.
      await fn.call(inner, input).catch(() => undefined);
      throw injected();
    };
  }
  return {
    port: port as unknown as AwsPort,
    actions,
    failAt(k, m) {
      countdown = k;
      mode = m;
    },
    reset() {
      actions.length = 0;
      countdown = 0;
    },
  };
}
