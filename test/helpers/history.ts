/** Reading a workflow's history in tests: whether every workflow task completed; every run of a chain. */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { WorkflowTaskFailedCause } = temporal.api.enums.v1;

/**
 * The workflow tasks of a workflow that failed or timed out, each as "event <id>: <cause>". A
 * workflow that spins, throws a bug or is nondeterministic shows up here; the tests expect none.
 *
 * Not counted: UnhandledCommand, the server's own refusal of a task that would close the
 * workflow while new messages wait for it (the worker decides again with them; nothing failed).
 */
export async function failedWorkflowTasks(client: Client, workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const failed = e.workflowTaskFailedEventAttributes;
    if (failed?.cause === WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND)
      return [];
    if (failed) return [`event ${e.eventId}: failed: ${failed.failure?.message ?? failed.cause}`];
    if (e.workflowTaskTimedOutEventAttributes) return [`event ${e.eventId}: timed out`];
    return [];
  });
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * Every event of a workflow's chain of runs, first run first: each run's history, then the run
 * its continue-as-new started. A count over a workflow that continued as new must read them
 * all (one run's history alone misses the rest, and its indices mean nothing in another run).
 */
export async function chainHistory(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<{ runs: number; events: HistoryEvent[] }> {
  const events: HistoryEvent[] = [];
  let runId: string | undefined = firstRunId;
  let runs = 0;
  while (runId) {
    const history: temporal.api.history.v1.IHistory = await client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const runEvents: HistoryEvent[] = history.events ?? [];
    events.push(...runEvents);
    runs += 1;
    runId =
      runEvents.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
      undefined;
  }
  return { runs, events };
}

/** An event's time, epoch milliseconds (the server's clock: workflow time when it skips). */
export function eventTimeMs(event: HistoryEvent): number {
  const t = event.eventTime;
  return Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
}
