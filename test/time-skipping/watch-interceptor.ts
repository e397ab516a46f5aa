/**
 * Workflow interceptor (bundled into the time-skipping tests' workflow bundle only): a test
 * double for the replica watch.
 *
 * Why: the Java test server skips time only while nothing is in flight, and a scheduled activity
 * counts until it completes. The deployment workflow keeps a long-poll `watchRevision` activity
 * running whenever it idles (up to WATCH_MAX_WAIT_MS of real time), so with the real watch the
 * workflow never lets time skip and `env.sleep(1 h)` takes an hour.
 *
 * What the double does, per `watchRevision` call: take a snapshot (the real activity with
 * `maxWaitMs: 0`); return it if it differs from what the workflow knows; while replicas are still
 * loading, long-poll with the real activity (they load in well under a second); once the revision
 * is settled (every replica ready), wait inside the workflow, with no activity in flight, until
 * the workflow runs another runtime activity (only those change the fake provider) or cancels
 * the watch. The workflow's own code is untouched; only the watch's cadence differs.
 *
 * Since the workflow is told of replica changes by the observer's signals (OBSERVED_REPLICAS_PATCH),
 * no observer runs here: the workflow's own safety-net status calls (`getRevisionStatus`) see the
 * replicas, and while they load the double waits for their change in real time (see statusCall).
 *
 * Also, for every activity: the Java test server rejects the completion of a workflow task that
 * requests the cancellation of an activity whose result it already holds but has not delivered
 * (`ACTIVITY_UNKNOWN for scheduledEventId`; the real server records the request and delivers the
 * result), and the workflow then hangs. A workflow that cancels work when a delete arrives meets
 * that race often. So here an activity is never cancelled on the server: it runs to its end, and
 * a cancelled caller is told at once, as a cancellation (what TRY_CANCEL tells it too). The
 * workflow ends only once those have ended: the test server holds its clock for an activity in
 * flight, and one still running when its workflow closed would hold it for good.
 */
import { CancellationScope, proxyActivities } from '@temporalio/workflow';
import type {
  ActivityInput,
  Next,
  TimerInput,
  WorkflowExecuteInput,
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { RevisionStatus } from '../../activities/providers/provider';
import type { RevisionRef, WatchInput } from '../../activities/runtime';

const WATCH = 'watchRevision';
const STATUS = 'getRevisionStatus';
/** Real-time long poll while replicas load. */
const LOADING_WAIT_MS = 5_000;

export function interceptors(): WorkflowInterceptors {
  return watchDouble({ cancelTimers: false });
}

/**
 * `cancelTimers: true` (bench:history-events, ./cancellable-timers.ts) leaves timers as the real
 * server has them: a wait that ends early cancels its timer (one TimerCanceled event) instead of
 * letting it fire unseen (a TimerFired and a workflow task), so the history counts what
 * production writes. It risks the test server's race described at `startTimer`; a run that meets
 * it hangs and fails at its timeout, never miscounts.
 */
export function watchDouble({ cancelTimers }: { cancelTimers: boolean }): WorkflowInterceptors {
  /** Set while this module schedules the real watch, so the interceptor lets it through. */
  let bypass = false;
  /**
   * Parked watches wait for `woken`; a runtime activity completing resolves it, with its result
   * (a revision's status, for applyRevision) or undefined when it failed.
   */
  /** How many runtime activities have completed (a watch parks only if none did meanwhile). */
  let generation = 0;
  let wake: ((result: unknown) => void) | undefined;
  let woken = new Promise<unknown>((resolve) => (wake = resolve));
  const poke = (result: unknown) => {
    generation += 1;
    wake?.(result);
    woken = new Promise<unknown>((resolve) => (wake = resolve));
  };

  const isStatusOf = (value: unknown, revision: number): value is RevisionStatus =>
    typeof value === 'object' &&
    value !== null &&
    (value as Partial<RevisionStatus>).revision === revision &&
    typeof (value as Partial<RevisionStatus>).ready === 'number';

  const changed = (status: RevisionStatus, known: WatchInput['known']) =>
    status.ready !== known.ready ||
    status.restarts !== known.restarts ||
    status.exists !== known.exists;

  /** Activities a cancelled caller gave up on, still running: the workflow waits for them to end. */
  const abandoned = new Set<Promise<unknown>>();

  /** Runs the activity uncancellable; a cancellation of the caller's scope rejects at once. */
  const uncancelled = <T>(schedule: () => Promise<T>): Promise<T> => {
    const caller = CancellationScope.current();
    const running = CancellationScope.nonCancellable(schedule);
    if (!caller.cancellable) return running;
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    abandoned.add(settled);
    void settled.then(() => abandoned.delete(settled));
    return Promise.race([running, caller.cancelRequested.then<never>(() => undefined as never)]);
  };

  const inbound: WorkflowInboundCallsInterceptor = {
    async execute(
      input: WorkflowExecuteInput,
      next: Next<WorkflowInboundCallsInterceptor, 'execute'>,
    ) {
      const drain = async () => {
        while (abandoned.size > 0)
          await CancellationScope.nonCancellable(() => Promise.all([...abandoned]));
      };
      try {
        const result = await next(input);
        await drain();
        return result;
      } catch (err) {
        await drain(); // continue-as-new and failures leave no activity behind either
        throw err;
      }
    },
  };

  /**
   * The safety net's status call (since OBSERVED_REPLICAS_PATCH; no observer signals here): a
   * snapshot, and while replicas load, a real-time wait for their change (the clock holds while
   * they load, as it would for an observer's signal), so loading takes no workflow time.
   */
  const statusCall = async (input: ActivityInput): Promise<RevisionStatus> => {
    const ref = input.args[0] as RevisionRef;
    const real = proxyActivities<{
      getRevisionStatus(r: RevisionRef): Promise<RevisionStatus>;
      watchRevision(i: WatchInput): Promise<RevisionStatus>;
    }>(input.options);
    const call = <T>(schedule: () => Promise<T>): Promise<T> => {
      bypass = true;
      try {
        return schedule();
      } finally {
        bypass = false;
      }
    };
    const snapshot = await call(() => real.getRevisionStatus(ref));
    if (!snapshot.exists || snapshot.ready >= snapshot.desired) return snapshot;
    // The fake provider's replicas that never load say so: nothing to wait for in real time.
    if (snapshot.replicas.some((r) => r.message?.includes('failed to load'))) return snapshot;
    const known = { ready: snapshot.ready, restarts: snapshot.restarts, exists: true };
    return call(() => real.watchRevision({ ...ref, known, maxWaitMs: LOADING_WAIT_MS }));
  };

  const outbound: WorkflowOutboundCallsInterceptor = {
    /**
     * Timers too are never cancelled on the server: the test server rejects a workflow task that
     * cancels a timer it has just fired but not yet delivered ("invalid history builder state
     * for action"), and the workflow then hangs. A wait that ends early (a signal came) leaves its
     * timer to fire unseen; the caller is told at once, as a cancellation would tell it.
     */
    startTimer(input: TimerInput, next: Next<WorkflowOutboundCallsInterceptor, 'startTimer'>) {
      const caller = CancellationScope.current();
      const running = CancellationScope.nonCancellable(() => next(input));
      if (!caller.cancellable) return running;
      return Promise.race([running, caller.cancelRequested.then<never>(() => undefined as never)]);
    },

    scheduleActivity(
      input: ActivityInput,
      next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
    ) {
      if (bypass) return uncancelled(() => next(input));
      if (input.activityType === STATUS) return statusCall(input);
      if (input.activityType !== WATCH) {
        return uncancelled(() => next(input)).then(
          (result) => {
            poke(result);
            return result;
          },
          (err: unknown) => {
            poke(undefined);
            throw err;
          },
        );
      }
      const watchInput = input.args[0] as WatchInput;
      const real = proxyActivities<{ watchRevision(i: WatchInput): Promise<RevisionStatus> }>(
        input.options,
      );
      const poll = (maxWaitMs: number): Promise<RevisionStatus> => {
        bypass = true;
        try {
          return real.watchRevision({ ...watchInput, maxWaitMs });
        } finally {
          bypass = false;
        }
      };
      const scope = CancellationScope.current();
      const watch = async (): Promise<RevisionStatus> => {
        for (;;) {
          const seen = generation;
          const snapshot = await poll(0);
          if (changed(snapshot, watchInput.known)) return snapshot;
          if (snapshot.exists && snapshot.ready < snapshot.desired) {
            const status = await poll(LOADING_WAIT_MS);
            if (changed(status, watchInput.known)) return status;
            continue;
          }
          // Settled: nothing changes until the workflow acts on the provider again.
          if (generation === seen) {
            const result = await Promise.race([woken, scope.cancelRequested]);
            // An activity answered with this revision's new status (applyRevision does): that
            // is the change a real watch would see; hand it over rather than take a snapshot
            // the workflow may already be cancelling (it renews a watch whose counts went stale).
            if (isStatusOf(result, watchInput.revision) && changed(result, watchInput.known))
              return result;
          }
        }
      };
      return watch();
    },
  };
  if (cancelTimers) delete outbound.startTimer;
  return { inbound: [inbound], outbound: [outbound] };
}
