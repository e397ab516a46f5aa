/** JSON merge patch (RFC 7396): objects merge recursively, null deletes, anything else replaces. */
import type { Violation } from './spec';

/**
 * How deep a patch may nest. The deepest spec path is 5 levels (autoscalingPolicy.scaleUp.
 * policies[].value); anything far deeper is hostile or broken, and would otherwise cost a deep
 * recursion in the merge.
 */
export const MAX_PATCH_DEPTH = 32;

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else {
      // defineProperty, not assignment: a "__proto__" member stays a member instead of swapping
      // the result's prototype; hasOwn, so inherited properties are never merged into.
      const current = Object.hasOwn(result, key) ? result[key] : undefined;
      Object.defineProperty(result, key, {
        value: applyMergePatch(current, value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return result;
}

/**
 * The nesting depth of a JSON value (a scalar is 0, `{}` is 1), computed without recursion so a
 * hostile document cannot overflow the stack; stops counting past `limit`.
 */
export function jsonDepth(value: unknown, limit = MAX_PATCH_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Object.values(node)) stack.push([child, here]);
  }
  return deepest;
}

/** A merge patch too deep to be a deployment's, as a violation (null when it is fine). */
export function depthViolation(value: unknown, path = ''): Violation | null {
  return jsonDepth(value) > MAX_PATCH_DEPTH
    ? { path, message: `nests deeper than ${MAX_PATCH_DEPTH} levels; no deployment field does` }
    : null;
}

/**
 * A merge patch of a resource in which only `spec` may change (PATCH .../deployments/{name}):
 * the patched spec (not yet validated), or what the patch does wrong. The API checks a patch
 * with it before sending it; the workflow applies it to the spec it holds, with the same rules.
 */
export function patchResourceSpec(
  resource: Record<string, unknown>,
  patch: unknown,
): { ok: true; spec: unknown } | { ok: false; violations: Violation[] } {
  if (!isPlainObject(patch)) {
    return {
      ok: false,
      violations: [{ path: '', message: 'a merge patch of a deployment must be a JSON object' }],
    };
  }
  const deep = depthViolation(patch);
  if (deep) return { ok: false, violations: [deep] };
  const patched = applyMergePatch(resource, patch) as Record<string, unknown>;
  const readOnly = Object.keys({ ...resource, ...patched }).filter(
    (key) => key !== 'spec' && JSON.stringify(patched[key]) !== JSON.stringify(resource[key]),
  );
  if (readOnly.length > 0) {
    const specFields = isPlainObject(resource.spec) ? Object.keys(resource.spec) : [];
    return {
      ok: false,
      violations: readOnly.map((key) => ({
        path: key,
        message:
          key in resource
            ? `only spec may change; ${key} is read-only`
            : specFields.includes(key)
              ? `${key} is a field of spec: send {"spec": {"${key}": ...}}`
              : `a deployment has no field ${key}; only spec may change`,
      })),
    };
  }
  // A cloud of another type merged into this one would keep this one's fields (and fail as an
  // unknown key): say what is wrong instead, with the path and words of an edit's placement
  // check (placementChange).
  const cloudType = (spec: unknown) =>
    isPlainObject(spec) && isPlainObject(spec.cloud) ? spec.cloud.type : undefined;
  const [before, after] = [
    cloudType(resource.spec),
    cloudType(isPlainObject(patch) ? patch.spec : undefined),
  ];
  if (typeof before === 'string' && typeof after === 'string' && after !== before) {
    return {
      ok: false,
      violations: [
        {
          path: 'cloud.type',
          message: `cannot change from "${before}" to "${after}": create a new deployment there, then delete this one`,
        },
      ],
    };
  }
  return { ok: true, spec: patched.spec };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
