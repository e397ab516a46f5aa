/**
 * The idle wait's one timer, kept while its deadline stays where it is (KEPT_WAKE_TIMER_PATCH).
 *
 * Why: a `condition(fn, timeout)` starts a timer on every wait and cancels it when the wait ends
 * early. Under a changing load every metrics signal ended the wait, so each signal cost a
 * TimerCanceled and a TimerStarted for the same deadline (a held scale-in's expiry does not move
 * when a lower recommendation arrives). This timer is started once per deadline and cancelled
 * only when the deadline moves or goes away; one that rings while a step runs is still heard by
 * the next wait.
 *
 * Runs inside the workflow sandbox.
 */
import { CancellationScope, isCancellation, sleep } from '@temporalio/workflow';

export class WakeTimer {
  private current?: { at: number; scope: CancellationScope; rang: boolean };

  /**
   * Sets the timer for `at` (epoch ms, workflow time), or none: the running one is kept when it is
   * for the same instant, and cancelled otherwise. `summary` says what it waits for (the timer's
   * summary in the Temporal UI); asked only when a timer is started.
   */
  setFor(at: number | undefined, now: number, summary?: () => string): void {
    const current = this.current;
    if (current && current.at === at) return;
    if (current && !current.rang) current.scope.cancel();
    this.current = undefined;
    if (at === undefined) return;
    const scope = new CancellationScope();
    const entry = { at, scope, rang: false };
    this.current = entry;
    scope
      .run(() => sleep(Math.max(1, at - now), summary ? { summary: summary() } : undefined))
      .then(
        () => void (entry.rang = true),
        (err: unknown) => {
          if (!isCancellation(err)) throw err;
        },
      );
  }

  /** Whether the timer rang (since it was set). */
  rang(): boolean {
    return this.current?.rang === true;
  }

  /** Forgets a timer that rang, so the next wait sets a new one when it needs one. */
  consume(): void {
    if (this.current?.rang) this.current = undefined;
  }
}
