import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType } from '../domain/errors';
import type { QuotaLedgerInput, QuotaUsage, Reservation } from './definitions';
import { releaseUpdate, reserveUpdate, usageQuery } from './definitions';
import { applyReservation, checkReservation, removeReservation, reservedByType } from './ledger';

/**
 * One per workspace, forever. Handlers are synchronous, so each reserve is checked and applied
 * in one step: concurrent creates are serialised by Temporal, never over-reserved.
 */
export async function quotaWorkflow(input: QuotaLedgerInput): Promise<void> {
  let reservations: Reservation[] = input.reservations ?? [];
  const usage = (): QuotaUsage => ({ reserved: reservedByType(reservations), reservations });

  setHandler(
    reserveUpdate,
    (request) => {
      reservations = applyReservation(reservations, request);
      return usage();
    },
    {
      validator: (request) => {
        const verdict = checkReservation(reservations, request);
        if (!verdict.ok)
          throw ApplicationFailure.create({
            type: ErrorType.QuotaExceeded,
            message: verdict.message,
            nonRetryable: true,
          });
      },
    },
  );
  setHandler(releaseUpdate, ({ holder }) => {
    reservations = removeReservation(reservations, holder);
    return usage();
  });
  setHandler(usageQuery, usage);

  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof quotaWorkflow>({ workspace: input.workspace, reservations });
}
