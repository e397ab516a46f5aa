import { useEffect, useRef } from 'preact/hooks';

/** How often pages refresh while open. */
export const POLL_MS = 2000;

/**
 * Runs `tick` now and then every `ms` while the component is mounted (never two at once), so a
 * page follows a deployment's changes without a reload.
 */
export function usePoll(tick: () => Promise<void>, deps: unknown[], ms = POLL_MS): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        await latest.current();
      } catch {
        // the page shows its own error; keep polling
      }
      if (!stopped) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, deps);
}
