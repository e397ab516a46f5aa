/** Reading a workflow's history in tests: whether every workflow task completed. */
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
