/**
 * A revision's status from its Kubernetes objects: the one function both the provider's
 * getRevision and the observer's feed use, whether the objects came from a list (timestamps as
 * Dates) or from a watch (timestamps as the apiserver's strings).
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { revisionStatusOf } from '../../activities/providers/kubernetes';

const deployment: V1Deployment = {
  metadata: { name: 'md-ws--chat-r1' },
  spec: { replicas: 2, selector: {}, template: {} },
};

/** A pod as a watch gives it: timestamps are strings. */
function pod(name: string, extra: Record<string, unknown> = {}): V1Pod {
  return JSON.parse(
    JSON.stringify({
      metadata: { name, creationTimestamp: '2026-01-01T00:00:00Z' },
      status: {
        podIP: '10.0.0.1',
        startTime: '2026-01-01T00:00:01Z',
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [
          {
            name: 'server',
            restartCount: 2,
            lastState: {
              terminated: {
                reason: 'OOMKilled',
                exitCode: 137,
                finishedAt: '2026-01-01T00:10:00Z',
              },
            },
          },
          {
            name: 'ssh',
            restartCount: 1,
            lastState: {
              terminated: { reason: 'Error', exitCode: 1, finishedAt: '2026-01-01T00:09:00Z' },
            },
          },
        ],
      },
      ...extra,
    }),
  ) as V1Pod;
}

/** The same pod as a list gives it: the client turned its timestamps into Dates. */
function listed(p: V1Pod): V1Pod {
  const status = p.status!;
  return {
    ...p,
    metadata: { ...p.metadata, creationTimestamp: new Date(p.metadata!.creationTimestamp!) },
    status: {
      ...status,
      startTime: new Date(status.startTime!),
      containerStatuses: status.containerStatuses!.map((c) => ({
        ...c,
        lastState: {
          terminated: {
            ...c.lastState!.terminated!,
            finishedAt: new Date(c.lastState!.terminated!.finishedAt!),
          },
        },
      })),
    },
  };
}

describe('revision status from Kubernetes objects', () => {
  it('is absent without its Deployment, whatever pods are left', () => {
    expect(revisionStatusOf(undefined, [pod('a')], 'ws/chat', 1)).toEqual({
      deploymentId: 'ws/chat',
      revision: 1,
      exists: false,
      desired: 0,
      ready: 0,
      restarts: 0,
      replicas: [],
    });
  });

  it('counts ready replicas and restarts, says the last container that ended, and skips pods being deleted', () => {
    const pods = [
      pod('a'),
      pod('b', { metadata: { name: 'b', deletionTimestamp: '2026-01-01T01:00:00Z' } }),
    ];
    const status = revisionStatusOf(deployment, pods, 'ws/chat', 1);
    expect(status).toMatchObject({ exists: true, desired: 2, ready: 1, restarts: 3 });
    expect(status.replicas).toEqual([
      {
        id: 'a',
        url: 'http://10.0.0.1:8000',
        ready: true,
        restarts: 3,
        startedAt: '2026-01-01T00:00:01.000Z',
        message: 'container server of pod a ended: OOMKilled (exit code 137)',
      },
    ]);
  });

  it('is the same for a pod from a list as from a watch', () => {
    const watched = pod('a');
    expect(revisionStatusOf(deployment, [listed(watched)], 'ws/chat', 1)).toEqual(
      revisionStatusOf(deployment, [watched], 'ws/chat', 1),
    );
  });
});
