// Wraps an AwsPort to record every action called (as IAM action names) and, for tests, to fail the k-th call:
// 'before' fails without calling AWS, 'after' lets AWS act and then loses the answer (the harder case: the
// resource exists but the caller never learnt its id). Every port action is wrapped, EC2, Logs, IAM and Service
// Quotas. It can also make EC2 short of capacity per instance type, as real EC2 is: `limitCapacity('m6i.xlarge',
// 0, 'InsufficientInstanceCapacity')` makes RunInstances of that type fail and CreateFleet give none of it (its
// overrides answer that error, the fleet moving on to the next type as EC2's does); a positive number lets that
// many more launch first.

import type { CreateFleetCommandInput, CreateFleetCommandOutput, CreateFleetError, CreateFleetInstance } from '@aws-sdk/client-ec2';
import { SkiffError } from '../../broker/api/errors.js';
import { AWS_ACTIONS, iamActionOf, type AwsPort } from './aws-port.js';

export interface Instrumented {
  port: AwsPort;
  /** IAM action names in call order, e.g. ['ec2:DescribeVpcs', 'ec2:CreateVpc', ...]. */
  actions: string[];
  /** Arm a failure at the k-th call counted from now (1-based). */
  failAt(k: number, mode: 'before' | 'after'): void;
  /** EC2 gives at most `available` more instances of `type`, then answers `code` (default InsufficientInstanceCapacity). */
  limitCapacity(type: string, available: number, code?: string): void;
  /** Forgets the recorded actions, an armed failure and the capacity limits. */
  reset(): void;
}

interface Limit {
  available: number;
  code: string;
}

function awsError(action: string, code: string): SkiffError {
  const cause = Object.assign(new Error(`injected ${code}`), { name: code });
  return new SkiffError('PRV_CLOUD_ERROR', `AWS ${action} failed: ${code}: injected`, { cause });
}

/** CreateFleet against limited capacity: the overrides' types in priority order, each given what it has left. */
async function limitedFleet(inner: AwsPort, limits: Map<string, Limit>, input: CreateFleetCommandInput): Promise<CreateFleetCommandOutput> {
  const config = input.LaunchTemplateConfigs?.[0];
  const overrides = [...(config?.Overrides ?? [])].sort((a, b) => (a.Priority ?? 0) - (b.Priority ?? 0));
  const types = [...new Set(overrides.map((o) => String(o.InstanceType)))];
  let remaining = input.TargetCapacitySpecification?.TotalTargetCapacity ?? 0;
  const instances: CreateFleetInstance[] = [];
  const errors: CreateFleetError[] = [];
  let fleetId: string | undefined;
  for (const [n, type] of types.entries()) {
    if (remaining <= 0) break;
    const own = overrides.filter((o) => String(o.InstanceType) === type);
    const limit = limits.get(type);
    const take = Math.min(remaining, limit ? Math.max(0, limit.available) : remaining);
    if (take > 0) {
      const out = await inner.createFleet({
        ...input,
        LaunchTemplateConfigs: [{ ...config, Overrides: own }],
        TargetCapacitySpecification: { ...input.TargetCapacitySpecification, TotalTargetCapacity: take },
        ...(input.ClientToken ? { ClientToken: `${input.ClientToken.slice(0, 60)}-${n}` } : {}),
      });
      fleetId ??= out.FleetId;
      const got = (out.Instances ?? []).reduce((k, i) => k + (i.InstanceIds?.length ?? 0), 0);
      instances.push(...(out.Instances ?? []));
      errors.push(...(out.Errors ?? []));
      remaining -= got;
      if (limit) limit.available -= got;
    }
    if (limit && limit.available <= 0 && remaining > 0) {
      for (const o of own) errors.push({ ErrorCode: limit.code, ErrorMessage: 'injected', LaunchTemplateAndOverrides: { Overrides: { InstanceType: o.InstanceType, SubnetId: o.SubnetId } } });
    }
  }
  return { $metadata: {}, ...(fleetId ? { FleetId: fleetId } : {}), Instances: instances, Errors: errors };
}

export function instrumentPort(inner: AwsPort): Instrumented {
  const actions: string[] = [];
  const limits = new Map<string, Limit>();
  let countdown = 0;
  let mode: 'before' | 'after' = 'before';
  const capacityAware: Partial<Record<keyof AwsPort, (input: never) => Promise<unknown>>> = {
    createFleet: (input: CreateFleetCommandInput) => (limits.size > 0 ? limitedFleet(inner, limits, input) : inner.createFleet(input)),
    runInstances: async (input: Parameters<AwsPort['runInstances']>[0]) => {
      const limit = limits.get(String(input.InstanceType));
      if (limit) {
        if (limit.available < (input.MinCount ?? 1)) throw awsError('ec2:RunInstances', limit.code);
        limit.available -= input.MaxCount ?? 1;
      }
      return inner.runInstances(input);
    },
  };
  const port: Record<string, unknown> = {};
  for (const action of AWS_ACTIONS) {
    const name = iamActionOf(action);
    const fn = (capacityAware[action] ?? (inner[action] as (input: unknown) => Promise<unknown>).bind(inner)) as (input: unknown) => Promise<unknown>;
    port[action] = async (input: unknown) => {
      actions.push(name);
      const fail = countdown > 0 && --countdown === 0;
      const injected = () => new SkiffError('PRV_CLOUD_ERROR', `injected failure in ${name}`, { retryable: true });
      if (fail && mode === 'before') throw injected();
      if (!fail) return fn(input);
      // 'after': whatever AWS answered (a result, or an error such as IAM's NoSuchEntity) is lost.
      await fn(input).catch(() => undefined);
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
    limitCapacity(type, available, code = 'InsufficientInstanceCapacity') {
      limits.set(type, { available, code });
    },
    reset() {
      actions.length = 0;
      countdown = 0;
      limits.clear();
    },
  };
}
