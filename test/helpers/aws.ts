// What the aws backend's tests and benchmark share: its dependencies with test timings (no real waits,
// a silent log, a stand-in agent bundle) and a cluster request.
import { pino } from 'pino';
import type { AwsPort } from '../../provisioner/aws/aws-port.js';
import type { ClusterSpec } from '../../provisioner/backend.js';

export function awsTestDeps(port: AwsPort) {
  return {
    portFor: () => port,
    bundle: { path: '/v1/agent/bundle', sha256: 'ab'.repeat(32), entry: 'agent/main.js' },
    log: pino({ level: 'silent' }),
    sleep: () => Promise.resolve(),
    pollIntervalMs: 1,
    waitTimeoutMs: 30_000,
  };
}

export function awsTestSpec(clusterId: string, workers: number, options: Record<string, unknown> = {}): ClusterSpec {
  return {
    clusterId,
    name: clusterId,
    workers,
    brokerUrl: 'http://127.0.0.1:8443',
    enrolTokens: { scheduler: 'aaa.bbb.ccc', worker: 'ddd.eee.fff' },
    options,
  };
}
