/**
 * The watch double with timers cancelled as the real server cancels them (see `watchDouble`):
 * bundled instead of ./watch-interceptor where a history's event count must match production's.
 */
import type { WorkflowInterceptors } from '@temporalio/workflow';
import { watchDouble } from './watch-interceptor';

export function interceptors(): WorkflowInterceptors {
  return watchDouble({ cancelTimers: true });
}
