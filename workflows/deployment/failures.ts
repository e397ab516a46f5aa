/** Telling the outside world's failures (activities, children that gave up) from bugs, and their words. */
import { ActivityFailure, ChildWorkflowFailure } from '@temporalio/workflow';

/** A failure of the outside world (an activity or child that gave up), as opposed to a bug. */
export function isOutsideFailure(err: unknown): err is ActivityFailure | ChildWorkflowFailure {
  return err instanceof ActivityFailure || err instanceof ChildWorkflowFailure;
}

/** The innermost message of an activity failure (the activity's own words). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}
