/**
 * The simulated inference engine: weight loading that takes time (or never finishes), and
 * a fixed number of decode slots so load shows up as queueing, like a real GPU server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelServerConfig } from './config';
import { Metrics } from './metrics';

export type WeightsState = 'loading' | 'ready' | 'failed';

export class SimulatedEngine {
  readonly metrics: Metrics;
  private readonly loadStartedAt = Date.now();

  /** When the weights are (or will be) loaded: the replica's own readiness instant (epoch ms). */
  get readySince(): number {
    return this.loadStartedAt + this.config.loadMs;
  }
  /** Requests waiting for a decode slot, first come first served. */
  private readonly queue: (() => void)[] = [];

  constructor(private readonly config: ModelServerConfig) {
    this.metrics = new Metrics(config.model, config.maxNumSeqs);
  }

  /** Derived from the clock, so no timer has to flip it. */
  weights(): WeightsState {
    if (Date.now() - this.loadStartedAt < this.config.loadMs) return 'loading';
    return this.config.failLoad ? 'failed' : 'ready';
  }

  /** Waits for a decode slot, then "decodes" for maxTokens * msPerToken. */
  async generate(promptTokens: number, maxTokens: number): Promise<void> {
    const started = performance.now();
    await this.acquireSlot();
    try {
      await sleep(maxTokens * this.config.msPerToken);
    } finally {
      this.releaseSlot();
    }
    this.metrics.requestSuccess += 1;
    this.metrics.promptTokens += promptTokens;
    this.metrics.generationTokens += maxTokens;
    this.metrics.observeLatency((performance.now() - started) / 1000);
  }

  private async acquireSlot(): Promise<void> {
    if (this.metrics.running < this.config.maxNumSeqs) {
      this.metrics.running += 1;
      return;
    }
    this.metrics.waiting += 1;
    // releaseSlot hands its slot over directly, so `running` stays counted.
    await new Promise<void>((resolve) => this.queue.push(resolve));
    this.metrics.waiting -= 1;
  }

  private releaseSlot(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.metrics.running -= 1;
  }
}
