/**
 * One simulated replica: the queueing model of serving-model.ts. Requests take one of
 * maxConcurrentSequences slots (vLLM "running"; the rest wait, "waiting"), are prefilled one at a
 * time in admission order, then decode in parallel. It reports what a scrape of its /metrics
 * would: the vLLM gauges and counters the observer reads (observer/replica-metrics.ts).
 */
import type { ReplicaSamples } from '../observer/replica-metrics';
import type { ServingFigures } from './serving-model';

export type ReplicaPhase = 'loading' | 'ready' | 'draining' | 'gone';

export class SimulatedReplica {
  phase: ReplicaPhase;
  /** When it stopped holding GPUs (drained and removed). */
  goneAt?: number;
  private running = 0;
  private readonly waiting: number[] = [];
  private waitingHead = 0;
  private prefillFreeAt = 0;
  private finished = 0;
  private latencySeconds = 0;

  constructor(
    readonly name: string,
    readonly startedAt: number,
    readonly readyAt: number,
    private readonly figures: ServingFigures,
  ) {
    this.phase = readyAt <= startedAt ? 'ready' : 'loading';
  }

  /** Requests on the replica: running and waiting (what the gateway counts as outstanding). */
  get outstanding(): number {
    return this.running + this.waiting.length - this.waitingHead;
  }

  /**
   * Takes request `id`; returns when it will finish if it got a slot now, or undefined when it
   * waits for one (it is admitted by a later `finish`).
   */
  accept(id: number, promptTokens: number, outputTokens: number, now: number): number | undefined {
    if (this.running < this.figures.maxConcurrentSequences) {
      return this.admit(promptTokens, outputTokens, now);
    }
    this.waiting.push(id);
    return undefined;
  }

  /**
   * A request finished at `now` after `latencyMs` end to end; returns the waiting request it
   * admits in its slot, if any (the caller asks `admit` for its finishing time).
   */
  finish(latencyMs: number): number | undefined {
    this.running--;
    this.finished++;
    this.latencySeconds += latencyMs / 1000;
    if (this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead++]!;
      if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
        this.waiting.splice(0, this.waitingHead);
        this.waitingHead = 0;
      }
      return next;
    }
    return undefined;
  }

  /** Starts a request in a free slot: its prefill after the ones before it, then its decode. */
  admit(promptTokens: number, outputTokens: number, now: number): number {
    this.running++;
    const prefillStart = Math.max(now, this.prefillFreeAt);
    const prefillEnd = prefillStart + (promptTokens / this.figures.prefillTokensPerSecond) * 1000;
    this.prefillFreeAt = prefillEnd;
    return prefillEnd + (outputTokens / this.figures.decodeTokensPerSecond) * 1000;
  }

  /** What a scrape of its /metrics reads now. */
  samples(): ReplicaSamples {
    return {
      running: this.running,
      waiting: this.waiting.length - this.waitingHead,
      requestSuccess: this.finished,
      latencySumSeconds: this.latencySeconds,
      latencyCount: this.finished,
      memoryPercent: Math.round((this.running / this.figures.maxConcurrentSequences) * 1000) / 10,
    };
  }
}
