/**
 * The spec's schema check for workflow code, with the schema built on first use.
 *
 * Why: workflow code is evaluated once per cached workflow, and building the zod schemas of
 * ./spec costs about 1.3 MB each time (bench:worker-memory: 1,309 KB per deployment with them,
 * none without), while a deployment needs them only when it is edited. A CommonJS `require`
 * inside the function is what makes webpack (the workflow bundle) evaluate ./spec there and not
 * at start. Deterministic: building a schema reads no clock and no randomness, and produces no
 * command, so a replay that loads it at another point sees the same history.
 */
import type * as Spec from './spec';
import type { DeploymentSpec } from './spec';
import type { Validated } from './spec-facts';

let spec: typeof Spec | undefined;

export function validateSpec(input: unknown): Validated<DeploymentSpec> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  spec ??= require('./spec') as typeof Spec;
  return spec.validateSpec(input);
}
