/** Reading a workflow's history in tests: whether every workflow task completed. */
import type { Client } from '@temporalio/client';

/**
 * The workflow tasks of a workflow (all its runs' current run) that failed or timed out, each as
 * "event <id>: <cause>". A workflow that spins, throws a bug or deadlocks shows up here; the
 * tests expect none.
 */
export async function failedWorkflowTasks(client: Client, workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const failed = e.workflowTaskFailedEventAttributes;
    if (failed) return [`event ${e.eventId}: failed: ${failed.failure?.message ?? failed.cause}`];
    if (e.workflowTaskTimedOutEventAttributes) return [`event ${e.eventId}: timed out`];
    return [];
  });
}
