import { describe, expect, it } from 'vitest';
import { applyMergePatch, patchResourceSpec } from '../../workflows/domain/merge-patch';

describe('applyMergePatch (RFC 7396)', () => {
  // RFC 7396, Appendix A: every example, in order.
  it.each([
    {
      sentence: 'a changed member replaces the old value',
      target: { a: 'b' },
      patch: { a: 'c' },
      result: { a: 'c' },
    },
    {
      sentence: 'a new member is added',
      target: { a: 'b' },
      patch: { b: 'c' },
      result: { a: 'b', b: 'c' },
    },
    {
      sentence: 'a null member removes the member',
      target: { a: 'b' },
      patch: { a: null },
      result: {},
    },
    {
      sentence: 'a null member removes only that member',
      target: { a: 'b', b: 'c' },
      patch: { a: null },
      result: { b: 'c' },
    },
    {
      sentence: 'a string replaces an array',
      target: { a: ['b'] },
      patch: { a: 'c' },
      result: { a: 'c' },
    },
    {
      sentence: 'an array replaces a string',
      target: { a: 'c' },
      patch: { a: ['b'] },
      result: { a: ['b'] },
    },
    {
      sentence: 'nested objects merge recursively, with null removing inside',
      target: { a: { b: 'c' } },
      patch: { a: { b: 'd', c: null } },
      result: { a: { b: 'd' } },
    },
    {
      sentence: 'arrays are replaced, never merged',
      target: { a: [{ b: 'c' }] },
      patch: { a: [1] },
      result: { a: [1] },
    },
    {
      sentence: 'an array patch replaces an array document',
      target: ['a', 'b'],
      patch: ['c', 'd'],
      result: ['c', 'd'],
    },
    {
      sentence: 'an array patch replaces an object document',
      target: { a: 'b' },
      patch: ['c'],
      result: ['c'],
    },
    {
      sentence: 'a null patch replaces the whole document with null',
      target: { a: 'foo' },
      patch: null,
      result: null,
    },
    {
      sentence: 'a string patch replaces the whole document',
      target: { a: 'foo' },
      patch: 'bar',
      result: 'bar',
    },
    {
      sentence: 'a null value already in the target is kept',
      target: { e: null },
      patch: { a: 1 },
      result: { e: null, a: 1 },
    },
    {
      sentence: 'an object patch on an array starts from an empty object',
      target: [1, 2],
      patch: { a: 'b', c: null },
      result: { a: 'b' },
    },
    {
      sentence: 'nulls inside new members are dropped, leaving empty objects',
      target: {},
      patch: { a: { bb: { ccc: null } } },
      result: { a: { bb: {} } },
    },
  ])('$sentence', ({ target, patch, result }) => {
    expect(applyMergePatch(target, patch)).toStrictEqual(result);
  });

  it('an edit of the deployment spec from api.md changes only maxReplicas', () => {
    const resource = {
      name: 'x',
      spec: { model: 'm', scaling: { minReplicas: 1, maxReplicas: 4 }, tags: { env: 'prod' } },
    };
    expect(applyMergePatch(resource, { spec: { scaling: { maxReplicas: 6 } } })).toStrictEqual({
      name: 'x',
      spec: { model: 'm', scaling: { minReplicas: 1, maxReplicas: 6 }, tags: { env: 'prod' } },
    });
  });

  it('neither the target nor the patch is mutated', () => {
    const target = { a: { b: 1, c: [1, 2] }, d: 'x' };
    const patch = { a: { b: null, e: 2 }, d: null };
    const targetBefore = structuredClone(target);
    const patchBefore = structuredClone(patch);
    applyMergePatch(target, patch);
    expect(target).toStrictEqual(targetBefore);
    expect(patch).toStrictEqual(patchBefore);
  });

  it('a "__proto__" member is merged as a member and never changes the prototype', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "b": 2}') as unknown;
    const result = applyMergePatch({ a: 1 }, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.keys(result)).toEqual(['a', '__proto__', 'b']);
    expect((result as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('inherited properties such as "constructor" are not merged into', () => {
    expect(JSON.stringify(applyMergePatch({}, { constructor: { a: 1 } }))).toBe(
      '{"constructor":{"a":1}}',
    );
  });
});

describe('patchResourceSpec: what a first user gets wrong, said plainly', () => {
  const resource = {
    name: 'd',
    state: 'running',
    spec: {
      model: 'm',
      cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
      scaling: { minReplicas: 1, maxReplicas: 2 },
    },
  };
  const refused = (patch: unknown) => {
    const result = patchResourceSpec(resource, patch);
    if (result.ok) throw new Error('expected a refusal');
    return result.violations;
  };

  it('a spec field sent without the spec wrapper says where it goes', () => {
    expect(refused({ scaling: { maxReplicas: 3 } })).toEqual([
      { path: 'scaling', message: 'scaling is a field of spec: send {"spec": {"scaling": ...}}' },
    ]);
  });

  it('a read-only field and an unknown one are told apart', () => {
    expect(refused({ state: 'paused', color: 'red' })).toEqual([
      { path: 'state', message: 'only spec may change; state is read-only' },
      { path: 'color', message: 'a deployment has no field color; only spec may change' },
    ]);
  });

  it('a change of cloud type says it cannot change (not an unknown key of the merged cloud)', () => {
    expect(refused({ spec: { cloud: { type: 'byoc', cluster: 'c', nodeGroup: 'g' } } })).toEqual([
      {
        path: 'cloud.type',
        message:
          'cannot change from "dedicated" to "byoc": create a new deployment there, then delete this one',
      },
    ]);
    expect(patchResourceSpec(resource, { spec: { cloud: { type: 'dedicated' } } }).ok).toBe(true);
  });
});
