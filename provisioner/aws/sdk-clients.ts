// Real SDK clients for a region, one set per region and process (IAM is global: one client, us-east-1). The SDK's
// default credential chain (environment, profiles, SSO) applies as usual, and so do its endpoint variables:
// AWS_ENDPOINT_URL (an emulator in tests) for every client, AWS_ENDPOINT_URL_SERVICE_QUOTAS for Service Quotas
// alone (the SDK's service-specific variable: tests point it at their Service Quotas stand-in, moto has no EC2 quotas).
import { EC2Client } from '@aws-sdk/client-ec2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient } from '@aws-sdk/client-iam';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { createSdkPort, type AwsPort } from './aws-port.js';

export function createPortCache(): (region: string) => AwsPort {
  const ports = new Map<string, AwsPort>();
  let iam: IAMClient | undefined;
  return (region) => {
    let port = ports.get(region);
    if (!port) {
      iam ??= new IAMClient({ region: 'us-east-1', maxAttempts: 3 });
      port = createSdkPort({
        ec2: new EC2Client({ region, maxAttempts: 3 }),
        logs: new CloudWatchLogsClient({ region, maxAttempts: 3 }),
        iam,
        quotas: new ServiceQuotasClient({ region, maxAttempts: 3 }),
      });
      ports.set(region, port);
    }
    return port;
  };
}
