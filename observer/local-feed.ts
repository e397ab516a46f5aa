/**
 * The local runtime's side of the observer: the agent's change stream as a RevisionFeed (one
 * long poll open at a time, whatever the number of deployments) and the agent-held lease.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { absentRevision } from '../activities/providers/provider';
import type { LocalRuntimeProvider } from '../activities/providers/local';
import type { ObserverLease, RevisionFeed, RevisionFeedHandlers } from './feed';

/** How long one long poll waits for a change (the agent answers sooner when one comes). */
const POLL_WAIT_MS = 25_000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

export class AgentRevisionFeed implements RevisionFeed {
  private running = false;
  private loop?: Promise<void>;
  /** Ends the long poll in flight when the feed stops (else the process waits up to POLL_WAIT_MS to exit). */
  private stopping = new AbortController();
  /** Requests made to the agent (for benchmarks: calls to the runtime per second). */
  requests = 0;

  constructor(private readonly agent: LocalRuntimeProvider) {}

  async start(handlers: RevisionFeedHandlers): Promise<void> {
    this.running = true;
    this.stopping = new AbortController();
    let cursor: string | undefined;
    // The first list, before start() resolves: the caller then knows every revision.
    for (let retryMs = RETRY_FIRST_MS; ; retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)) {
      try {
        this.requests++;
        const first = await this.agent.changes(undefined, 0);
        cursor = first.cursor;
        deliver(first, handlers);
        handlers.onRecovered?.();
        break;
      } catch (err) {
        handlers.onError?.(err as Error);
        if (!this.running) return;
        await this.pause(retryMs);
        if (!this.running) return;
      }
    }
    this.loop = this.follow(cursor, handlers);
  }

  async stop(): Promise<void> {
    this.running = false;
    // The long poll in flight is cut; nothing is delivered after stop.
    this.stopping.abort();
    await this.loop;
  }

  /** A retry's pause, cut short when the feed stops. */
  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private async follow(cursor: string, handlers: RevisionFeedHandlers): Promise<void> {
    let retryMs = RETRY_FIRST_MS;
    let failing = false;
    while (this.running) {
      try {
        this.requests++;
        // Right after an error, ask without waiting: the answer says the agent is back.
        const changes = await this.agent.changes(
          cursor,
          failing ? 0 : POLL_WAIT_MS,
          this.stopping.signal,
        );
        if (!this.running) return;
        cursor = changes.cursor;
        deliver(changes, handlers);
        retryMs = RETRY_FIRST_MS;
        if (failing) handlers.onRecovered?.();
        failing = false;
      } catch (err) {
        if (!this.running) return;
        failing = true;
        handlers.onError?.(err as Error);
        await this.pause(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  }
}

function deliver(
  changes: Awaited<ReturnType<LocalRuntimeProvider['changes']>>,
  handlers: RevisionFeedHandlers,
): void {
  for (const status of changes.items) handlers.onStatus(status);
  for (const gone of changes.gone)
    handlers.onStatus(absentRevision(gone.deploymentId, gone.revision));
  if (changes.resync)
    handlers.onResync?.(
      changes.items.map(({ deploymentId, revision }) => ({ deploymentId, revision })),
    );
}

/** The lease held by the agent itself: it is the runtime, so "one observer per runtime" is its call. */
export class AgentLease implements ObserverLease {
  readonly durationMs: number;
  checkpoint?: string;

  constructor(
    private readonly agent: LocalRuntimeProvider,
    readonly holder: string,
    options: { durationMs?: number; name?: string } = {},
  ) {
    this.durationMs = options.durationMs ?? 10_000;
    this.name = options.name ?? 'observer';
  }

  private readonly name: string;

  async tryAcquire(checkpoint?: string): Promise<boolean> {
    const answer = await this.agent.acquireLease(
      this.name,
      this.holder,
      this.durationMs,
      checkpoint,
    );
    if (answer.held) this.checkpoint = answer.checkpoint;
    return answer.held;
  }

  async release(): Promise<void> {
    await this.agent.releaseLease(this.name, this.holder);
  }
}
