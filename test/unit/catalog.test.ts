import { describe, expect, it } from 'vitest';
import {
  BUILTIN_CATALOG,
  catalogSchema,
  checkAgainstCatalog,
  findModel,
} from '../../workflows/domain/catalog';
import { deploymentSpecSchema, type DeploymentSpec } from '../../workflows/domain/spec';

const BYOC = {
  type: 'byoc',
  cluster: 'prod-eks',
  nodeGroup: 'gpu-h100',
  resources: { cpuRequest: '4', cpuLimit: '8', memoryRequest: '32Gi', memoryLimit: '64Gi' },
};

/** A schema-valid spec (checkAgainstCatalog takes parsed specs only). */
function spec(model: string, cloud: Record<string, unknown>, metric?: string): DeploymentSpec {
  return deploymentSpecSchema.parse({ model, cloud, ...(metric ? { scaling: { metric } } : {}) });
}

function dedicated(type: string, count = 1) {
  return { type: 'dedicated', accelerator: { type, count } };
}

describe('checkAgainstCatalog', () => {
  it.each([
    {
      sentence: 'an 8B model fits on one H100',
      spec: spec('llama-3.1-8b-instruct', dedicated('H100')),
    },
    {
      sentence: 'an 8B model fits on one L4',
      spec: spec('llama-3.1-8b-instruct', dedicated('L4')),
    },
    {
      sentence: 'a 70B model fits on two H100 (exactly the 160 GB it needs)',
      spec: spec('llama-3.1-70b-instruct', dedicated('H100', 2)),
    },
    {
      sentence: 'a 70B model fits on one B200',
      spec: spec('llama-3.1-70b-instruct', dedicated('B200')),
    },
    {
      sentence: 'an LLM may scale on memory',
      spec: spec('mistral-7b-instruct', dedicated('A10G'), 'memory'),
    },
    {
      sentence: 'a speech model may scale on latency',
      spec: spec('whisper-large-v3', dedicated('T4'), 'latency'),
    },
    {
      sentence: 'an embedding model may scale on throughput',
      spec: spec('bge-large-en-v1.5', dedicated('T4'), 'throughput'),
    },
    {
      sentence: 'a BYOC deployment is not checked against the accelerator catalog',
      spec: spec('llama-3.1-70b-instruct', BYOC),
    },
  ])('$sentence', ({ spec }) => {
    expect(checkAgainstCatalog(spec, BUILTIN_CATALOG)).toEqual([]);
  });

  it.each([
    {
      sentence: 'an unknown model is named',
      spec: spec('gpt-17', dedicated('H100')),
      path: 'model',
      mentions: 'gpt-17',
    },
    {
      sentence: 'an unknown model on BYOC is named too',
      spec: spec('gpt-17', BYOC),
      path: 'model',
      mentions: 'gpt-17',
    },
    {
      sentence: 'an unknown accelerator is named',
      spec: spec('llama-3.1-8b-instruct', dedicated('TPU-v5')),
      path: 'cloud.accelerator.type',
      mentions: 'TPU-v5',
    },
    {
      sentence: 'a 70B model does not fit on one T4',
      spec: spec('llama-3.1-70b-instruct', dedicated('T4')),
      path: 'cloud.accelerator.count',
      mentions: '160 GB',
    },
    {
      sentence: 'a 70B model does not fit on one H200',
      spec: spec('llama-3.1-70b-instruct', dedicated('H200')),
      path: 'cloud.accelerator.count',
      mentions: '141 GB',
    },
    {
      sentence: 'a 32B model does not fit on one A100-40GB',
      spec: spec('qwen2.5-32b-instruct', dedicated('A100-40GB')),
      path: 'cloud.accelerator.count',
      mentions: '72 GB',
    },
    {
      sentence: 'a speech model cannot scale on memory',
      spec: spec('whisper-large-v3', dedicated('T4'), 'memory'),
      path: 'scaling.metric',
      mentions: 'memory',
    },
    {
      sentence: 'an embedding model cannot scale on memory',
      spec: spec('bge-large-en-v1.5', dedicated('T4'), 'memory'),
      path: 'scaling.metric',
      mentions: 'memory',
    },
  ])('$sentence', ({ spec, path, mentions }) => {
    const violations = checkAgainstCatalog(spec, BUILTIN_CATALOG);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.path).toBe(path);
    expect(violations[0]!.message).toContain(mentions);
  });

  it('an unknown model stops the check before the accelerator is looked at', () => {
    expect(
      checkAgainstCatalog(spec('gpt-17', dedicated('TPU-v5')), BUILTIN_CATALOG).map((v) => v.path),
    ).toEqual(['model']);
  });

  it('a wrong metric and a too-small accelerator are both reported', () => {
    const violations = checkAgainstCatalog(spec('whisper-large-v3', dedicated('T4', 1), 'memory'), {
      ...BUILTIN_CATALOG,
      accelerators: [{ type: 'T4', memoryGb: 8 }],
    });
    expect(violations.map((v) => v.path)).toEqual(['scaling.metric', 'cloud.accelerator.count']);
  });

  it('the catalog passed in is the one used, not the built-in one', () => {
    const custom = catalogSchema.parse({
      accelerators: [{ type: 'MI300X', memoryGb: 192 }],
      models: [{ id: 'tiny', name: 'Tiny', minGpuMemoryGb: 1, loadSeconds: 0 }],
    });
    expect(checkAgainstCatalog(spec('tiny', dedicated('MI300X')), custom)).toEqual([]);
    expect(checkAgainstCatalog(spec('tiny', dedicated('H100')), custom).map((v) => v.path)).toEqual(
      ['cloud.accelerator.type'],
    );
    expect(
      checkAgainstCatalog(spec('llama-3.1-8b-instruct', dedicated('MI300X')), custom).map(
        (v) => v.path,
      ),
    ).toEqual(['model']);
  });
});

describe('BUILTIN_CATALOG', () => {
  it.each([
    { type: 'T4', memoryGb: 16 },
    { type: 'L4', memoryGb: 24 },
    { type: 'A10G', memoryGb: 24 },
    { type: 'L40S', memoryGb: 48 },
    { type: 'A100-40GB', memoryGb: 40 },
    { type: 'A100-80GB', memoryGb: 80 },
    { type: 'H100', memoryGb: 80 },
    { type: 'H200', memoryGb: 141 },
    { type: 'B200', memoryGb: 192 },
  ])('offers the $type with $memoryGb GB of memory', ({ type, memoryGb }) => {
    expect(BUILTIN_CATALOG.accelerators.find((a) => a.type === type)?.memoryGb).toBe(memoryGb);
  });

  it('offers exactly those nine accelerators', () => {
    expect(BUILTIN_CATALOG.accelerators.map((a) => a.type)).toEqual([
      'T4',
      'L4',
      'A10G',
      'L40S',
      'A100-40GB',
      'A100-80GB',
      'H100',
      'H200',
      'B200',
    ]);
  });

  it('has unique model ids, each found by findModel', () => {
    const ids = BUILTIN_CATALOG.models.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(findModel(BUILTIN_CATALOG, id)?.id).toBe(id);
    expect(findModel(BUILTIN_CATALOG, 'nope')).toBeUndefined();
  });

  it('lets an LLM scale on every metric by default', () => {
    expect(findModel(BUILTIN_CATALOG, 'llama-3.1-8b-instruct')?.metrics).toEqual([
      'memory',
      'latency',
      'throughput',
      'concurrency',
    ]);
  });

  it('is itself a valid catalog', () => {
    expect(catalogSchema.safeParse(BUILTIN_CATALOG).success).toBe(true);
  });
});
