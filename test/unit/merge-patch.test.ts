import { describe, expect, it } from 'vitest';
import { applyMergePatch } from '../../workflows/domain/merge-patch';

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
