// What the aws backend's tests and benchmark share: its dependencies with test timings (no real waits,
// a silent log, a stand-in agent bundle), a cluster request, the images skiff looks up (moto ships none of
// them), and EC2 Fleet's handling of a launch template's security groups, which moto leaves out.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  ModifyInstanceAttributeCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
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
    workspace: 'default',
    brokerUrl: 'http://127.0.0.1:8443',
    enrolTokens: { scheduler: 'aaa.bbb.ccc', worker: 'ddd.eee.fff' },
    options,
  };
}

interface MotoAmi {
  ami_id: string;
  name: string;
  owner_id: string;
  architecture: 'x86_64' | 'arm64';
  description: string;
}

// No creation_date: moto parses it in place when it loads the catalogue, so the second load (moto-api/reset)
// fails on the parsed value. moto stamps each image with its load time instead, in catalogue order, so an
// older image is listed before a newer one of the same name pattern (their names order them the same way).
const ami = (ami_id: string, owner_id: string, architecture: MotoAmi['architecture'], name: string): MotoAmi => ({
  ami_id,
  name,
  owner_id,
  architecture,
  description: name,
});

/**
 * The images of the test account, in every region: what skiff's defaults look up (Debian 12 by Debian's account,
 * the DLAMI Ubuntu 24.04 GPU images by AWS's), an older Debian and a backports image that must not be chosen,
 * a look-alike from another account, and Amazon Linux 2023 for tests that name an ami.
 */
export const TEST_IMAGES = {
  debianX86Old: ami('ami-0de12a0000000a001', '136693071363', 'x86_64', 'debian-12-amd64-20250610-2140'),
  debianX86: ami('ami-0de12a0000000a002', '136693071363', 'x86_64', 'debian-12-amd64-20251020-2259'),
  debianBackports: ami('ami-0de12a0000000b001', '136693071363', 'x86_64', 'debian-12-backports-amd64-20251101-2300'),
  debianArm: ami('ami-0de12a0000000c001', '136693071363', 'arm64', 'debian-12-arm64-20251020-2259'),
  impostor: ami('ami-0badbad000000d001', '111122223333', 'x86_64', 'debian-12-amd64-20991231-0000'),
  gpuX86: ami('ami-0d1a00000000e0001', '898082745236', 'x86_64', 'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20251015'),
  gpuArm: ami('ami-0d1a00000000f0001', '898082745236', 'arm64', 'Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20251015'),
  al2023X86: ami('ami-0a120230000000a01', '137112412989', 'x86_64', 'al2023-ami-2023.9.20251014.0-kernel-6.1-x86_64'),
  al2023Arm: ami('ami-0a120230000000b01', '137112412989', 'arm64', 'al2023-ami-2023.9.20251014.0-kernel-6.1-arm64'),
} as const;

/**
 * Writes TEST_IMAGES in moto's AMI catalogue format and returns the file. A moto server started with
 * MOTO_AMIS_PATH set to it has exactly these images (instead of its own list, which has no Debian image).
 */
export function motoImagesFile(): string {
  const entries = Object.values(TEST_IMAGES).map((i) => ({
    ...i,
    state: 'available',
    public: true,
    image_location: 'test/images',
    sriov: 'simple',
    root_device_type: 'ebs',
    root_device_name: '/dev/xvda',
    image_type: 'machine',
    platform: null,
    virtualization_type: 'hvm',
    hypervisor: 'xen',
  }));
  const body = JSON.stringify(entries);
  const path = join(tmpdir(), `skiff-moto-amis-${createHash('sha256').update(body).digest('hex').slice(0, 12)}.json`);
  writeFileSync(path, body);
  return path;
}

/** Makes every moto server this process starts from now on (startMoto inherits the environment) carry TEST_IMAGES. */
export function useTestImagesInMoto(): void {
  process.env['MOTO_AMIS_PATH'] = motoImagesFile();
}

/** The security groups of an instance: its own list, or its primary interface's (moto fills only that for some launches). */
export function groupsOf(instance: Instance): string[] {
  const own = (instance.SecurityGroups ?? []).map((g) => g.GroupId ?? '');
  const eni = (instance.NetworkInterfaces ?? []).flatMap((n) => (n.Groups ?? []).map((g) => g.GroupId ?? ''));
  return [...new Set([...own, ...eni])].filter(Boolean).sort();
}

/**
 * moto's CreateFleet ignores the launch template's security groups whatever their place (its instances land in
 * the VPC's default group). This wrapper gives each instance a CreateFleet launches the groups EC2 gives it:
 * the template's top-level SecurityGroupIds; or its network interface's Groups when no override sets a subnet,
 * while with a SubnetId override the interface (and so its groups) is dropped (aws/karpenter-provider-aws#3819)
 * and the instance stays in the default group. It talks to moto through `ec2`, outside the recorded port.
 */
export function withEc2FleetGroups(port: AwsPort, ec2: EC2Client): AwsPort {
  return {
    ...port,
    createFleet: async (input) => {
      const out = await port.createFleet(input);
      const spec = input.LaunchTemplateConfigs?.[0]?.LaunchTemplateSpecification;
      if (!spec?.LaunchTemplateId) return out;
      const versions = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: spec.LaunchTemplateId, Versions: [spec.Version ?? '$Latest'] }));
      const data = versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
      for (const inst of out.Instances ?? []) {
        const subnetOverride = inst.LaunchTemplateAndOverrides?.Overrides?.SubnetId ?? input.LaunchTemplateConfigs?.[0]?.Overrides?.[0]?.SubnetId;
        const eni = data?.NetworkInterfaces?.[0];
        const groups = eni ? (subnetOverride ? [] : (eni.Groups ?? [])) : (data?.SecurityGroupIds ?? []);
        if (groups.length === 0) continue;
        for (const id of inst.InstanceIds ?? []) await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: groups }));
      }
      return out;
    },
  };
}

/** The ids of a VPC's default security group, to tell "landed in the default group" apart. */
export async function defaultGroupOf(ec2: EC2Client, vpcId: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'group-name', Values: ['default'] }] }));
  return out.SecurityGroups?.[0]?.GroupId;
}
