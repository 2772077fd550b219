// The daemon's loop: moto's skiff instances → simulated VMs. Every pollIntervalMs it reads DescribeInstances
// (tag owner=skiff) and DescribeSecurityGroups, then
//   - boots a VM for each new pending/running instance (at most maxVms at once; an instance is booted once);
//   - destroys the VM of an instance moto reports shutting-down, terminated, stopping or stopped (or no more);
//   - rebuilds the firewall when addresses or groups changed;
//   - when a guest powered itself off, applies the instance's shutdown behaviour in moto as EC2 does for an
//     instance-initiated shutdown (terminate → TerminateInstances, stop → StopInstances): the instance's
//     attribute, else the launch template version it was launched from (aws-facts.ts: moto drops the
//     template's setting for EC2 Fleet instances).
// IMDS serves the credentials of the instance's profile: moto's record, else its launch template's.

import { DescribeInstancesCommand, DescribeSecurityGroupsCommand, StopInstancesCommand, TerminateInstancesCommand, type EC2Client, type Reservation } from '@aws-sdk/client-ec2';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AwsFacts, InstanceProfileFacts } from './aws-facts.js';
import { toIngressByGroup, toSimInstances, type IngressRule, type SimInstance } from './ec2-view.js';
import { applyRuleset, buildRuleset, type FirewallVm } from './firewall.js';
import type { IdentitySigner } from './identity.js';
import { buildMetadata, type MdDir } from './imds-tree.js';
import { profileFor } from './images.js';
import type { SimNames } from './names.js';
import type { DaemonConfig, SpotAction, VmImageProfile, VmSnapshot } from './types.js';
import { bootVm, refreshBootState, type Vm } from './vm.js';

const GONE_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);
const API_TIMEOUT_MS = 10_000;

export interface MachinesDeps {
  ec2: EC2Client;
  facts: AwsFacts;
  sim: SimNames;
  cfg: DaemonConfig;
  signer: IdentitySigner;
  log: (line: string) => void;
  emit: (vm: VmSnapshot) => void;
}

export function createMachines(deps: MachinesDeps) {
  const { ec2, facts, sim, cfg } = deps;
  const vms = new Map<string, Vm>();
  const booted = new Set<string>();
  const poweringOff = new Set<string>();
  const spot = new Map<string, SpotAction>();
  const rebalance = new Map<string, string>();
  // Resolved through IAM when the VM boots or its profile changes, so IMDS can answer without waiting.
  const iamProfiles = new Map<string, InstanceProfileFacts | undefined>();
  const profileErrors = new Set<string>();
  const images: Record<string, VmImageProfile> = { ...cfg.images };
  let ingress = new Map<string, IngressRule[]>();
  let applied = '';
  let vmCount = 0;
  let stopped = false;
  const opts = () => ({ abortSignal: AbortSignal.timeout(API_TIMEOUT_MS) });
  const emit = (vm: Vm) => deps.emit({ ...vm.snapshot });
  const live = () => [...vms.values()].filter((v) => v.snapshot.state !== 'gone');

  async function describe(): Promise<SimInstance[]> {
    const reservations: Reservation[] = [];
    let token: string | undefined;
    do {
      const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:owner', Values: ['skiff'] }], ...(token ? { NextToken: token } : {}) }), opts());
      reservations.push(...(out.Reservations ?? []));
      token = out.NextToken;
    } while (token);
    return toSimInstances(reservations);
  }

  const firewallVm = (inst: SimInstance & { privateIp: string }): FirewallVm => ({
    instanceId: inst.instanceId,
    privateIp: inst.privateIp,
    groupIds: inst.groups.map((g) => g.id),
    ...(inst.publicIp ? { publicIp: inst.publicIp } : {}),
  });

  /** `booting`: a VM whose network exists but which is not in `vms` yet; it must be in the rules before it runs. */
  async function refreshFirewall(booting?: FirewallVm): Promise<void> {
    const ruleset = buildRuleset({
      vethPrefix: sim.vethPrefix,
      vms: [...live().map((v) => firewallVm({ ...v.inst, privateIp: v.snapshot.privateIp })), ...(booting ? [booting] : [])],
      ingress,
    });
    if (ruleset === applied) return;
    await applyRuleset(sim.outerNs, ruleset);
    applied = ruleset;
  }

  /** A failed look-up (moto busy) keeps what IMDS served so far and is tried again on the next poll. */
  async function refreshProfile(inst: SimInstance): Promise<void> {
    try {
      iamProfiles.set(inst.instanceId, await facts.instanceProfile(inst));
    } catch (err) {
      if (!profileErrors.has(inst.instanceId)) deps.log(`${inst.instanceId}: instance profile not known yet: ${String(err)}`);
      profileErrors.add(inst.instanceId);
    }
  }

  async function powerOff(vm: Vm): Promise<void> {
    const marker = join(vm.snapshot.stateDir, 'run', 'power-off');
    if (!existsSync(marker)) {
      // pid 1 died without a power-off (boot.sh refused, or crashed): on EC2 the instance would sit there impaired.
      await vm.destroy('pid 1 exited without powering off (see console.log); the instance stays running in moto');
      emit(vm);
      return;
    }
    const how = readFileSync(marker, 'utf8').trim();
    const id = vm.snapshot.instanceId;
    let outcome: string;
    try {
      const behaviour = await facts.shutdownBehaviour(vm.inst);
      if (behaviour === 'terminate') await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }), opts());
      else await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }), opts());
      outcome = behaviour === 'terminate' ? 'terminated' : 'stopped';
    } catch (err) {
      outcome = `not applied in moto (${String(err)})`;
    }
    await vm.destroy(`guest ${how}; instance ${outcome} in moto (instance-initiated shutdown)`);
    emit(vm);
    await refreshFirewall().catch((err: unknown) => deps.log(`firewall: ${String(err)}`));
  }

  async function boot(inst: SimInstance & { privateIp: string }): Promise<void> {
    booted.add(inst.instanceId);
    const imageName = await facts.imageName(inst.imageId);
    const profile = profileFor(images, inst.imageId, imageName);
    const userData = await facts.userData(inst.instanceId);
    await refreshProfile(inst);
    vmCount += 1;
    const vm = await bootVm({
      sim,
      n: vmCount,
      inst,
      stateRoot: cfg.stateRoot,
      unitEnv: cfg.unitEnv,
      profile,
      repoRoot: cfg.repoRoot,
      ...(userData ? { userData } : {}),
      log: deps.log,
      beforeStart: () => refreshFirewall(firewallVm(inst)),
    });
    vms.set(inst.instanceId, vm);
    emit(vm);
    void vm.exited
      .then(async ({ byItself }) => {
        if (!byItself || stopped) return;
        // From here powerOff() owns the VM's end: the loop must not report it as "terminated in moto" first.
        poweringOff.add(inst.instanceId);
        await powerOff(vm);
      })
      .catch((err: unknown) => deps.log(`${inst.instanceId}: power-off handling failed: ${String(err)}`));
  }

  async function tick(): Promise<void> {
    const instances = await describe();
    const groups = await ec2.send(new DescribeSecurityGroupsCommand({}), opts());
    ingress = toIngressByGroup(groups.SecurityGroups);
    const seen = new Set(instances.map((i) => i.instanceId));
    for (const inst of instances) {
      const vm = vms.get(inst.instanceId);
      if (vm) {
        vm.inst = inst;
        // A profile can be associated (or replaced) while the instance runs; the template's is read once.
        await refreshProfile(inst);
      }
      if (vm && vm.snapshot.state !== 'gone' && GONE_STATES.has(inst.state) && !poweringOff.has(inst.instanceId)) {
        await vm.destroy(`${inst.state} in moto`);
        emit(vm);
      } else if (!booted.has(inst.instanceId) && (inst.state === 'pending' || inst.state === 'running') && inst.privateIp) {
        if (live().length >= cfg.maxVms) {
          deps.log(`${inst.instanceId} not booted: already ${cfg.maxVms} VMs (maxVms)`);
          booted.add(inst.instanceId);
          continue;
        }
        await boot({ ...inst, privateIp: inst.privateIp }).catch((err: unknown) => deps.log(`${inst.instanceId} could not boot: ${String(err)}`));
      }
    }
    for (const vm of live()) {
      if (!seen.has(vm.snapshot.instanceId) && !poweringOff.has(vm.snapshot.instanceId)) {
        await vm.destroy('no longer in moto');
        emit(vm);
      } else if (refreshBootState(vm)) emit(vm);
    }
    await refreshFirewall();
  }

  return {
    tick,
    vms: () => [...vms.values()].map((v) => ({ ...v.snapshot })),
    metadataFor(sourceIp: string): { instanceId: string; tree: () => MdDir } | undefined {
      const vm = live().find((v) => v.snapshot.privateIp === sourceIp);
      if (!vm) return undefined;
      return { instanceId: vm.snapshot.instanceId, tree: () => metadataTree(vm) };
    },
    setSpotAction(instanceId: string, action: SpotAction | undefined) {
      if (action) spot.set(instanceId, action);
      else spot.delete(instanceId);
    },
    setRebalance(instanceId: string, noticeTime: string | undefined) {
      if (noticeTime) rebalance.set(instanceId, noticeTime);
      else rebalance.delete(instanceId);
    },
    setImage(key: string, profile: VmImageProfile | undefined) {
      if (profile) images[key] = profile;
      else delete images[key];
    },
    async destroyAll(reason: string): Promise<void> {
      stopped = true;
      for (const vm of live()) {
        await vm.destroy(reason);
        emit(vm);
      }
    },
  };

  function metadataTree(vm: Vm): MdDir {
    const id = vm.snapshot.instanceId;
    const profile = iamProfiles.get(id);
    return buildMetadata(vm.inst, {
      region: cfg.region,
      signer: deps.signer,
      ...(vm.userData ? { userData: vm.userData } : {}),
      ...(profile ? { profile, credentials: () => facts.credentials(id) } : {}),
      ...(spot.get(id) ? { spotAction: spot.get(id) as SpotAction } : {}),
      ...(rebalance.get(id) ? { rebalanceNoticeTime: rebalance.get(id) as string } : {}),
    });
  }
}
