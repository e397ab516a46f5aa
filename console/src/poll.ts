import { useEffect, useRef } from 'preact/hooks';

/** How often pages refresh while open. */
export const POLL_MS = 2000;

/**
 * Whether a tick's result still belongs to the page: false once the effect that started it was
 * cleaned up (the deps changed, the page left), so an answer to an old request (old filters, a
 * pre-action ETag) never overwrites a newer one. `signal` aborts with it.
 */
export interface PollContext {
  live: () => boolean;
  signal: AbortSignal;
}

/**
 * Runs `tick` now and then every `ms` while the component is mounted (never two at once), so a
 * page follows a deployment's changes without a reload. While the tab is hidden no tick runs; it
 * runs again as soon as the tab shows. A tick must skip its set* calls once `ctx.live()` is false.
 */
export function usePoll(
  tick: (ctx: PollContext) => Promise<void>,
  deps: unknown[],
  ms = POLL_MS,
): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    let stopped = false;
    const abort = new AbortController();
    const ctx: PollContext = { live: () => !stopped, signal: abort.signal };
    let timer: ReturnType<typeof setTimeout> | undefined;
    let waiting = false;
    const run = async () => {
      timer = undefined;
      if (stopped) return;
      if (typeof document !== 'undefined' && document.hidden) {
        waiting = true; // resumed by visibilitychange
        return;
      }
      try {
        await latest.current(ctx);
      } catch {
        // the page shows its own error; keep polling
      }
      if (!stopped) timer = setTimeout(run, ms);
    };
    const onVisible = () => {
      if (!document.hidden && waiting && !stopped) {
        waiting = false;
        void run();
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    void run();
    return () => {
      stopped = true;
      abort.abort();
      document.removeEventListener('visibilitychange', onVisible);
      if (timer) clearTimeout(timer);
    };
  }, deps);
}
