/** Closed-loop load for end-to-end tests: `clients` completions in flight until stopped. */

export interface Load {
  /** Stops sending, waits for the requests in flight; resolves with how many answered 200. */
  stop(): Promise<number>;
}

/**
 * Keeps `clients` requests in flight (each ~200 ms of the simulated server's decoding), each sent
 * to the URL `target()` gives at that moment (undefined: none yet, try again shortly).
 */
export function closedLoop(
  target: () => Promise<string | undefined> | string | undefined,
  clients: number,
  headers: Record<string, string> = {},
): Load {
  let running = true;
  let ok = 0;
  const client = async () => {
    while (running) {
      const url = await target();
      if (!url) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ prompt: 'load', max_tokens: 100 }),
      }).catch(() => undefined);
      await res?.arrayBuffer();
      if (res?.status === 200) ok += 1;
    }
  };
  const all = Array.from({ length: clients }, client);
  let stopped: Promise<number> | undefined;
  return {
    stop: () =>
      (stopped ??= (async () => {
        running = false;
        await Promise.all(all);
        return ok;
      })()),
  };
}
