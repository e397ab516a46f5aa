/**
 * Kubernetes resource quantities (the subset used for CPU and memory requests and limits).
 * Pure, so the schema can compare request and limit inside the workflow sandbox too.
 */

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

/** CPU in cores: "4", "0.5", "500m". Null when it is not a CPU quantity. */
export function parseCpuQuantity(q: string): number | null {
  const match = QUANTITY.exec(q.trim());
  if (!match) return null;
  const [, number, suffix = ''] = match;
  if (suffix === 'm') return Number(number) / 1000;
  if (suffix !== '') return null;
  return Number(number);
}

/** Memory in bytes: "64Gi", "512Mi", "1G", "1048576". Null when it is not a memory quantity. */
export function parseMemoryQuantity(q: string): number | null {
  const match = QUANTITY.exec(q.trim());
  if (!match) return null;
  const [, number, suffix = ''] = match;
  const factor = BINARY[suffix] ?? DECIMAL[suffix];
  if (factor === undefined) return null; // "m" (milli-bytes) is legal in Kubernetes but never meant
  return Number(number) * factor;
}
