/**
 * The summary shown under each cron input. First the product's own describer
 * (workflows/schedule/describe.ts): the words the workflow uses in its events and in the Temporal
 * UI's timer summaries, so the form and the deployment's history read alike. It words the common
 * shapes only and returns the expression itself for anything else (L, #, W, steps over ranges,
 * both day fields restricted); those fall back to cronstrue, which covers all of standard cron.
 * A rule the schema refuses is shown as the schema's error (cronError, the check the API runs).
 */
import { toString as cronstrue } from 'cronstrue';
import { cronError } from '../../workflows/domain/spec-facts';
import { describeCron } from '../../workflows/schedule/describe';

export function cronSummary(expression: string): { ok: boolean; text: string } {
  const trimmed = expression.trim();
  if (trimmed === '') return { ok: false, text: 'enter a five-field cron expression' };
  const error = cronError(trimmed);
  if (error) return { ok: false, text: error };
  const own = describeCron(trimmed);
  if (own !== trimmed) return { ok: true, text: own };
  try {
    return {
      ok: true,
      text: cronstrue(trimmed, { use24HourTimeFormat: true, throwExceptionOnParseError: true }),
    };
  } catch {
    return { ok: true, text: trimmed };
  }
}
