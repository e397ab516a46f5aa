/**
 * How the gateway spreads requests over a deployment's ready replicas. Pure, so the simulator
 * (simulator/fleet.ts) spreads them the same way.
 */

/**
 * The replica for a request: the fewest outstanding requests, ties broken round robin (the first
 * of the least loaded after `last`, the index chosen last time). Returns the index.
 */
export function leastOutstanding(
  candidates: readonly string[],
  outstanding: (url: string) => number,
  last: number,
): number {
  let best = -1;
  let fewest = Infinity;
  for (let i = 1; i <= candidates.length; i++) {
    const index = (last + i) % candidates.length;
    const load = outstanding(candidates[index]!);
    if (load < fewest) {
      best = index;
      fewest = load;
    }
  }
  return best;
}
