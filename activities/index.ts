/** All activities, built over injected dependencies. Workflows import only the type below. */
import { createQuotaActivities, type QuotaDeps } from './quota';
import { createRuntimeActivities, type RuntimeDeps } from './runtime';

export type ActivityDeps = QuotaDeps & RuntimeDeps;

export function createActivities(deps: ActivityDeps) {
  return { ...createQuotaActivities(deps), ...createRuntimeActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
