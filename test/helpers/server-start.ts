/**
 * Starting a test server, again when it was only slow.
 *
 * The SDK's ephemeral-server launcher gives the process a fixed 5 s to accept
 * connections and then kills it. On a loaded 2-core CI machine (two vitest
 * workers bundling workflow code at once) the dev server has missed that by a
 * little, failing a whole test file for no fault of the code under test. The
 * launcher kills the slow process before it reports, so starting again is
 * safe; any other failure is reported at once.
 */
const STARTUP_TIMEOUT = /did not start within/;
const ATTEMPTS = 3;

export async function startWithRetry<T>(what: string, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempt >= ATTEMPTS || !STARTUP_TIMEOUT.test(message)) throw err;
      console.warn(
        `${what} was slow to start (attempt ${attempt} of ${ATTEMPTS}); starting it again`,
      );
    }
  }
}
