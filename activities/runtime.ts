/**
 * Runtime activities: everything the workflows ask of replicas, through one provider.
 * Built by a factory over an injected provider, so tests hand in real providers pointed at
 * test servers. Every activity is idempotent (see provider.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Catalog } from '../workflows/domain/catalog';
import { findModel } from '../workflows/domain/catalog';
import { ErrorType } from '../workflows/domain/errors';
import type { DeploymentSpec } from '../workflows/domain/spec';
import type { RevisionStatus, RevisionTemplate, RuntimeProvider } from './providers/provider';

export interface RuntimeDeps {
  provider: RuntimeProvider;
  catalog: Catalog;
}

export interface RevisionRef {
  deploymentId: string;
  revision: number;
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
    ...(spec.cloud.type === 'dedicated'
      ? { accelerator: spec.cloud.accelerator }
      : { nodeGroup: spec.cloud.nodeGroup, resources: spec.cloud.resources }),
    ...(spec.ssh?.enabled ? { ssh: { runtime: spec.ssh.runtime, users: spec.ssh.users } } : {}),
  };
}

export function createRuntimeActivities({ provider, catalog }: RuntimeDeps) {
  return {
    async applyRevision(
      input: RevisionRef & { replicas: number; spec: DeploymentSpec },
    ): Promise<RevisionStatus> {
      const { deploymentId, revision, replicas, spec } = input;
      return provider.applyRevision({
        deploymentId,
        revision,
        replicas,
        template: templateFor(spec, catalog),
      });
    },

    async getRevision({ deploymentId, revision }: RevisionRef): Promise<RevisionStatus> {
      return provider.getRevision(deploymentId, revision);
    },

    async routeTraffic({ deploymentId, revision }: RevisionRef): Promise<void> {
      await provider.routeTraffic(deploymentId, revision);
    },

    async removeRevision({ deploymentId, revision }: RevisionRef): Promise<void> {
      await provider.removeRevision(deploymentId, revision);
    },

    /** Removes leftovers (e.g. of a rollout interrupted by a crash). Returns the revisions removed. */
    async removeRevisionsExcept({
      deploymentId,
      keep,
    }: {
      deploymentId: string;
      keep: number[];
    }): Promise<number[]> {
      const revisions = await provider.listRevisions(deploymentId);
      const stale = revisions.map((r) => r.revision).filter((r) => !keep.includes(r));
      for (const revision of stale) await provider.removeRevision(deploymentId, revision);
      return stale;
    },

    async removeDeployment({ deploymentId }: { deploymentId: string }): Promise<void> {
      await provider.removeDeployment(deploymentId);
    },

    /** Long poll: returns when ready count, restarts or existence change, or after maxWaitMs. */
    async watchRevision({
      deploymentId,
      revision,
      known,
      maxWaitMs,
    }: WatchInput): Promise<RevisionStatus> {
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
    async waitForRevisionReady({
      deploymentId,
      revision,
      replicas,
      deadline,
    }: WaitReadyInput): Promise<{ ready: boolean; status: RevisionStatus }> {
      const ctx = Context.current();
      const until = Date.parse(deadline);
      for (;;) {
        const status = await provider.getRevision(deploymentId, revision);
        if (status.exists && status.ready >= replicas) return { ready: true, status };
        if (Date.now() >= until) return { ready: false, status };
        ctx.heartbeat({ ready: status.ready, of: replicas });
        await ctx.sleep(Math.min(FAST_POLL_MS, Math.max(0, until - Date.now())));
      }
    },
  };
}
