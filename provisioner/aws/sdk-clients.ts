// Real SDK clients for a region, one pair per region and process. The SDK's default credential chain
// (environment, profiles, SSO) and AWS_ENDPOINT_URL (an emulator in tests) apply as usual.
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { createSdkPort, type AwsPort } from './aws-port.js';

export function createPortCache(): (region: string) => AwsPort {
  const ports = new Map<string, AwsPort>();
  return (region) => {
    let port = ports.get(region);
    if (!port) {
      port = createSdkPort({ ec2: new EC2Client({ region, maxAttempts: 3 }), logs: new CloudWatchLogsClient({ region, maxAttempts: 3 }) });
      ports.set(region, port);
    }
    return port;
  };
}
