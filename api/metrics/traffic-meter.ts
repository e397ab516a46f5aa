/**
 * What the gateway still counts itself: requests held while a deployment has no ready replica
 * (waking from zero, or loading), and when the last request for a deployment arrived. Both go to
 * the deployment's workflow in a wake (wake-nudger.ts). Load itself (concurrency, throughput,
 * latency) is measured at the replicas by the observer, so it counts every request once,
 * whichever API process proxied it.
 *
 * Bounded: one entry per deployment that got a request through this process.
 */
export class TrafficMeter {
  private readonly queued = new Map<string, number>();
  private readonly lastRequest = new Map<string, number>();

  /**
   * A request is sent to a replica; call the returned function when it ends. (Only its arrival
   * is recorded here: what it costs the replica is the replica's to report.)
   */
  begin(
    deployment: string,
    _replica: string,
    now: number,
  ): (endedAt: number, completed?: boolean) => void {
    this.lastRequest.set(deployment, now);
    return () => undefined;
  }

  /** A request waits at the gateway for a replica (waking from zero); call the result when it stops waiting. */
  hold(deployment: string, now: number): () => void {
    this.queued.set(deployment, (this.queued.get(deployment) ?? 0) + 1);
    this.lastRequest.set(deployment, now);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.queued.get(deployment) ?? 1) - 1;
      if (left > 0) this.queued.set(deployment, left);
      else this.queued.delete(deployment);
    };
  }

  queuedFor(deployment: string): number {
    return this.queued.get(deployment) ?? 0;
  }

  /** Every deployment with requests held now, and how many (the API's held-requests gauge). */
  heldRequests(): IterableIterator<[string, number]> {
    return this.queued.entries();
  }

  lastRequestAt(deployment: string): number | undefined {
    return this.lastRequest.get(deployment);
  }
}
