/**
 * Runtime activities: everything the workflows ask of replicas, through one provider.
 * Built by a factory over an injected provider, so tests hand in real providers pointed at
 * test servers. Every activity is idempotent (see provider.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Catalog } from '../workflows/domain/catalog';
import { findModel } from '../workflows/domain/catalog';
import { workspaceOf } from '../workflows/domain/deployment';
import { ErrorType } from '../workflows/domain/errors';
import type { DeploymentSpec, RuntimeTarget, Violation } from '../workflows/domain/spec';
import { ClusterError, type ByocClusters, type NodeGroupGrowth } from './providers/byoc';
import { revisionName } from './providers/kubernetes-manifests';
import { nodeGroupGpuCapacity, replicaFitViolations } from './providers/node-group-fit';
import type { RevisionStatus, RevisionTemplate, RuntimeProvider } from './providers/provider';

export interface RuntimeDeps {
  /** Where dedicated deployments run (the local runtime, or the cluster KUBECONFIG names). */
  provider: RuntimeProvider;
  /** BYOC: the workspaces' linked clusters. Without it, BYOC deployments are refused. */
  clusters?: ByocClusters;
  catalog: Catalog;
}

export interface RevisionRef {
  deploymentId: string;
  revision: number;
  /** Where the deployment runs (fixed at create). Absent in older histories: dedicated. */
  target?: RuntimeTarget;
}

export interface WatchInput extends RevisionRef {
  /** What the workflow last saw; the activity returns as soon as reality differs. */
  known: { ready: number; restarts: number; exists: boolean };
  /** Return anyway after this long, so a steady deployment costs a few history events an hour. */
  maxWaitMs: number;
}

export interface WaitReadyInput extends RevisionRef {
  replicas: number;
  /** Absolute deadline (ISO time), so a retried attempt keeps the original one. */
  deadline: string;
}

/** Poll quickly while something is loading (readiness is the latency users feel), slowly after. */
const FAST_POLL_MS = 50;
const SLOW_POLL_MS = 1000;

export function templateFor(spec: DeploymentSpec, catalog: Catalog): RevisionTemplate {
  const model = findModel(catalog, spec.model);
  if (!model) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidSpec,
      message: `model "${spec.model}" is not in the catalog`,
      nonRetryable: true,
    });
  }
  return {
    model: model.id,
    loadMs: Math.round(model.loadSeconds * 1000),
    ...(model.failsToLoad ? { failLoad: true } : {}),
    ...(model.simulatesRestarts ? { simulateRestarts: true } : {}),
    ...(spec.cloud.type === 'dedicated'
      ? { accelerator: spec.cloud.accelerator }
      : {
          nodeGroup: spec.cloud.nodeGroup,
          gpusPerReplica: spec.cloud.gpusPerReplica,
          resources: spec.cloud.resources,
        }),
    ...(spec.ssh?.enabled ? { ssh: { runtime: spec.ssh.runtime, users: spec.ssh.users } } : {}),
  };
}

/** What sizing a node group did, for the deployment's events. */
export function growthMessage(
  nodeGroup: string,
  grown: NodeGroupGrowth,
  replicas: number,
  revision: number,
): string {
  const grew =
    grown.grewTo > grown.grewFrom
      ? `node group ${nodeGroup} grown from ${grown.grewFrom} to ${grown.grewTo} node(s) for ${replicas} replica(s) of revision ${revision}`
      : `node group ${nodeGroup} is at its maximum of ${grown.max} node(s)`;
  return grown.needed > grown.grewTo
    ? `${grew}; ${grown.needed} node(s) are needed, so replicas that do not fit stay Pending`
    : grew;
}

/** A cluster problem the user can fix, as the non-retryable invalid_spec failure the API shows. */
function invalidSpec(violations: Violation[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.InvalidSpec,
    message: violations.map((v) => `${v.path}: ${v.message}`).join('; '),
    details: [violations],
    nonRetryable: true,
  });
}

/**
 * Heartbeats while a provider waits (a Kubernetes delete waits until its pods are gone, up to the
 * pods' termination grace), so a long wait is not mistaken for a dead worker and a dead worker is
 * noticed within the heartbeat timeout, not the whole start-to-close timeout.
 */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 2000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

async function asSpecError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw err instanceof ClusterError
      ? invalidSpec([{ path: err.path, message: err.message }])
      : err;
  }
}

export function createRuntimeActivities({ provider, clusters, catalog }: RuntimeDeps) {
  function byocClusters(): ByocClusters {
    if (!clusters) {
      throw invalidSpec([
        { path: 'cloud.type', message: 'BYOC needs linked clusters; none are configured here' },
      ]);
    }
    return clusters;
  }

  /** The provider that runs this deployment: the dedicated one, or its BYOC cluster's. */
  function providerFor({ deploymentId, target }: Pick<RevisionRef, 'deploymentId' | 'target'>) {
    if (target?.type !== 'byoc') return Promise.resolve(provider);
    return asSpecError(() => byocClusters().provider(workspaceOf(deploymentId), target.cluster));
  }

  return {
    async applyRevision(
      input: RevisionRef & { replicas: number; spec: DeploymentSpec },
    ): Promise<RevisionStatus> {
      const { deploymentId, revision, replicas, spec } = input;
      return (await providerFor(input)).applyRevision({
        deploymentId,
        revision,
        replicas,
        template: templateFor(spec, catalog),
      });
    },

    async routeTraffic(ref: RevisionRef): Promise<void> {
      await (await providerFor(ref)).routeTraffic(ref.deploymentId, ref.revision);
    },

    async removeRevision(ref: RevisionRef): Promise<void> {
      const runtime = await providerFor(ref);
      await heartbeating(() => runtime.removeRevision(ref.deploymentId, ref.revision));
    },

    /**
     * BYOC admission: the cluster is linked, the node group exists and has GPUs, and one replica
     * (GPUs, CPU and memory requests) fits one of its nodes. Says what the node group offers.
     */
    async checkPlacement({
      workspace,
      spec,
    }: {
      workspace: string;
      spec: DeploymentSpec;
    }): Promise<{ message: string }> {
      if (spec.cloud.type !== 'byoc') return { message: 'dedicated' };
      const cloud = spec.cloud;
      const group = await asSpecError(() =>
        byocClusters().nodeGroup(workspace, cloud.cluster, cloud.nodeGroup),
      );
      const violations = replicaFitViolations(cloud, group);
      if (violations.length > 0) throw invalidSpec(violations);
      const capacity = nodeGroupGpuCapacity(group, group.size.max);
      return {
        message: `node group ${cloud.nodeGroup} of cluster ${cloud.cluster}: ${group.instanceType}, ${group.gpu?.count ?? 0} x ${group.gpu?.type ?? 'GPU'} per node, ${group.size.desired} of at most ${group.size.max} nodes (${capacity} GPUs)`,
      };
    },

    /**
     * BYOC: grow the node group so this revision's replicas fit next to everything else we run
     * there, and wait for it (heartbeating: EKS takes minutes). Never throws for a node group
     * that does not grow in time: the deployment reports it and the pods wait as Pending.
     */
    async ensureNodeGroupCapacity(
      input: RevisionRef & { replicas: number; spec: DeploymentSpec },
    ): Promise<{ message: string | null; grew: boolean }> {
      const { deploymentId, revision, replicas, spec } = input;
      if (spec.cloud.type !== 'byoc') return { message: null, grew: false };
      const cloud = spec.cloud;
      const ctx = Context.current();
      try {
        const grown = await asSpecError(() =>
          byocClusters().ensureCapacity({
            workspace: workspaceOf(deploymentId),
            cluster: cloud.cluster,
            nodeGroup: cloud.nodeGroup,
            revisionObject: revisionName(deploymentId, revision),
            replicas,
            gpusPerReplica: cloud.gpusPerReplica,
            heartbeat: (info) => ctx.heartbeat({ status: info.status, desired: info.size.desired }),
          }),
        );
        return {
          grew: !!grown && grown.grewTo > grown.grewFrom,
          message: grown ? growthMessage(cloud.nodeGroup, grown, replicas, revision) : null,
        };
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        return {
          grew: false,
          message: `node group ${cloud.nodeGroup} could not be grown for ${replicas} replica(s): ${(err as Error).message}`,
        };
      }
    },

    async removeDeployment(input: { deploymentId: string; target?: RuntimeTarget }): Promise<void> {
      const runtime = await providerFor(input);
      await heartbeating(() => runtime.removeDeployment(input.deploymentId));
    },

    /** One status read: the workflow's safety net when the observer has said nothing for long. */
    async getRevisionStatus(ref: RevisionRef): Promise<RevisionStatus> {
      return (await providerFor(ref)).getRevision(ref.deploymentId, ref.revision);
    },

    /**
     * Long poll (histories from before OBSERVED_REPLICAS_PATCH only): returns when ready count, restarts or existence change, or after maxWaitMs. */
    async watchRevision(input: WatchInput): Promise<RevisionStatus> {
      const { deploymentId, revision, known, maxWaitMs } = input;
      const provider = await providerFor(input);
      const ctx = Context.current();
      const until = Date.now() + maxWaitMs;
      for (;;) {
        const status = await provider.getRevision(deploymentId, revision);
        const changed =
          status.ready !== known.ready ||
          status.restarts !== known.restarts ||
          status.exists !== known.exists;
        if (changed || Date.now() >= until) return status;
        ctx.heartbeat({ ready: status.ready, restarts: status.restarts });
        await ctx.sleep(status.ready < status.desired ? FAST_POLL_MS : SLOW_POLL_MS);
      }
    },

    /** For rollouts: waits until `replicas` are ready, or the deadline passes. Heartbeats progress. */
    async waitForRevisionReady(
      input: WaitReadyInput,
    ): Promise<{ ready: boolean; status: RevisionStatus }> {
      const { deploymentId, revision, replicas, deadline } = input;
      const provider = await providerFor(input);
      const ctx = Context.current();
      const until = Date.parse(deadline);
      for (;;) {
        const status = await provider.getRevision(deploymentId, revision);
        if (status.exists && status.ready >= replicas) return { ready: true, status };
        // Gone (applyRevision created it, so something removed it since, e.g. the cleanup of a
        // cancelled rollout): nothing can become ready, so do not wait out the deadline.
        if (!status.exists || Date.now() >= until) return { ready: false, status };
        ctx.heartbeat({ ready: status.ready, of: replicas });
        await ctx.sleep(Math.min(FAST_POLL_MS, Math.max(0, until - Date.now())));
      }
    },
  };
}
