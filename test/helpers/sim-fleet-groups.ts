// What EC2 does and moto does not, for the simulator: an instance EC2 Fleet launches from a launch template
// gets the template's top-level SecurityGroupIds (moto puts every Fleet instance in the VPC's default group,
// whatever the template says). This watcher gives skiff's worker instances in moto the groups EC2 would have
// given them, before the simulator's firewall follows moto's records; see withEc2FleetGroups in aws.ts for
// the same rule in-process, with the interface-dropping case of aws/karpenter-provider-aws#3819.
import { DescribeInstancesCommand, DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, ModifyInstanceAttributeCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { groupsOf } from './aws.js';

export function watchFleetGroups(ec2: EC2Client, everyMs = 300): { stop(): void } {
  const done = new Set<string>();
  const templateGroups = new Map<string, string[]>();
  let stopped = false;
  const groupsForCluster = async (clusterId: string): Promise<string[]> => {
    const known = templateGroups.get(clusterId);
    if (known) return known;
    const lts = await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:skiff:cluster', Values: [clusterId] }] }));
    const id = lts.LaunchTemplates?.[0]?.LaunchTemplateId;
    if (!id) return [];
    const v = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] }));
    const data = v.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
    // A template whose interface carries the groups loses them to a SubnetId override: EC2 keeps the default group.
    const groups = data?.NetworkInterfaces?.length ? [] : (data?.SecurityGroupIds ?? []);
    templateGroups.set(clusterId, groups);
    return groups;
  };
  const tick = async (): Promise<void> => {
    const out = await ec2.send(new DescribeInstancesCommand({
      Filters: [{ Name: 'tag:owner', Values: ['skiff'] }, { Name: 'tag:skiff:role', Values: ['worker'] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }],
    }));
    for (const inst of (out.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      const id = inst.InstanceId ?? '';
      const cluster = inst.Tags?.find((x) => x.Key === 'skiff:cluster')?.Value;
      if (done.has(id) || !cluster) continue;
      const want = await groupsForCluster(cluster);
      if (want.length > 0 && groupsOf(inst).join() !== [...want].sort().join()) {
        await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: want }));
      }
      done.add(id);
    }
  };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      await tick().catch(() => undefined); // moto restarting, a template not there yet: next round
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  void loop();
  return { stop: () => void (stopped = true) };
}
