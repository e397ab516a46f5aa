/**
 * The observer lease on Kubernetes: a coordination.k8s.io/v1 Lease in the namespace, as
 * controllers' leader election uses. Every write carries the resourceVersion it read, so of two
 * observers that try at once the apiserver lets exactly one through (the other gets 409 Conflict,
 * or 409 AlreadyExists on create, and is refused).
 *
 * Expiry is judged by the reader's clock against the holder's `renewTime` plus its
 * `leaseDurationSeconds`, so the observers' clocks must agree to well within the duration.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { ObserverLease } from './feed';

export interface KubernetesLeaseOptions {
  kubeconfig: KubeConfig;
  namespace: string;
  /** The Lease object's name (default `model-deployments-observer`: one per runtime). */
  name?: string;
  /** This observer's identity (default host name, pid and a random suffix). */
  holder?: string;
  /** How long a lease lives without renewal; whole seconds on the object (default 10 s). */
  durationMs?: number;
}

export const DEFAULT_LEASE_NAME = 'model-deployments-observer';
/**
 * The observer's checkpoint for its successor (what it signalled), kept on the Lease object as an
 * annotation: about 30 bytes per revision, within the 256 KB annotations allow for ~8,000.
 */
export const CHECKPOINT_ANNOTATION = 'model-deployments.dev/observer-checkpoint';

export class KubernetesLease implements ObserverLease {
  readonly holder: string;
  readonly durationMs: number;
  /** The checkpoint found on the Lease when this holder last acquired it. */
  checkpoint?: string;
  private readonly api: CoordinationV1Api;
  private readonly name: string;

  constructor(private readonly options: KubernetesLeaseOptions) {
    this.api = options.kubeconfig.makeApiClient(CoordinationV1Api);
    this.name = options.name ?? DEFAULT_LEASE_NAME;
    this.holder = options.holder ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    // The object holds whole seconds: round up, so the lease never lives shorter than asked.
    this.durationMs = Math.max(1, Math.ceil((options.durationMs ?? 10_000) / 1000)) * 1000;
  }

  private get namespace(): string {
    return this.options.namespace;
  }

  async tryAcquire(checkpoint?: string): Promise<boolean> {
    const now = new V1MicroTime();
    const current = await this.read();
    if (!current) {
      return this.write(() =>
        this.api.createNamespacedLease({
          namespace: this.namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.name, namespace: this.namespace },
            spec: {
              holderIdentity: this.holder,
              leaseDurationSeconds: this.durationMs / 1000,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        }),
      );
    }
    const spec = current.spec ?? {};
    const withCheckpoint = (lease: V1Lease): V1Lease =>
      checkpoint === undefined
        ? lease
        : {
            ...lease,
            metadata: {
              ...lease.metadata,
              annotations: { ...lease.metadata?.annotations, [CHECKPOINT_ANNOTATION]: checkpoint },
            },
          };
    if (spec.holderIdentity === this.holder) {
      return this.replace(withCheckpoint(current), {
        ...spec,
        leaseDurationSeconds: this.durationMs / 1000,
        renewTime: now,
      });
    }
    if (spec.holderIdentity && !expired(current, now.getTime())) return false;
    this.checkpoint = current.metadata?.annotations?.[CHECKPOINT_ANNOTATION];
    return this.replace(withCheckpoint(current), {
      holderIdentity: this.holder,
      leaseDurationSeconds: this.durationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
    });
  }

  /** Clears the holder if it is still this one; a lease someone else took meanwhile is left alone. */
  async release(): Promise<void> {
    const current = await this.read();
    if (!current || current.spec?.holderIdentity !== this.holder) return;
    const { holderIdentity: _ours, ...rest } = current.spec;
    await this.replace(current, rest);
  }

  private async read(): Promise<V1Lease | undefined> {
    return this.api
      .readNamespacedLease({ name: this.name, namespace: this.namespace })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      });
  }

  /** Writes the spec over the version read (its resourceVersion): a 409 means someone else won. */
  private replace(current: V1Lease, spec: NonNullable<V1Lease['spec']>): Promise<boolean> {
    return this.write(() =>
      this.api.replaceNamespacedLease({
        name: this.name,
        namespace: this.namespace,
        body: { ...current, spec },
      }),
    );
  }

  private async write(request: () => Promise<V1Lease>): Promise<boolean> {
    try {
      await request();
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }
}

/**
 * Whether the holder's last renewal plus its duration has passed. Timestamps come back from the
 * client as the apiserver's strings (MicroTime is not deserialized), so they are read with `Date`.
 */
function expired(lease: V1Lease, nowMs: number): boolean {
  const spec = lease.spec ?? {};
  const renewed = spec.renewTime ?? spec.acquireTime;
  if (!renewed) return true;
  const renewedMs = new Date(renewed).getTime();
  if (Number.isNaN(renewedMs)) return true;
  return renewedMs + (spec.leaseDurationSeconds ?? 0) * 1000 <= nowMs;
}
