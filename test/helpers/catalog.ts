/** A catalog for tests: models with short, known load times, and one that never loads. */
import { BUILTIN_CATALOG, catalogSchema, type Catalog } from '../../workflows/domain/catalog';

export const TEST_CATALOG: Catalog = catalogSchema.parse({
  accelerators: BUILTIN_CATALOG.accelerators,
  models: [
    // With serving figures (an 8B model's), so simulations can run on it.
    {
      id: 'fast-model',
      name: 'Fast test model',
      minGpuMemoryGb: 8,
      loadSeconds: 0.3,
      parametersBillions: 8,
      maxConcurrentSequences: 16,
    },
    { id: 'fast-model-v2', name: 'Fast test model v2', minGpuMemoryGb: 8, loadSeconds: 0.3 },
    { id: 'slow-model', name: 'Slow test model', minGpuMemoryGb: 8, loadSeconds: 3 },
    { id: 'slow-model-v2', name: 'Slow test model v2', minGpuMemoryGb: 8, loadSeconds: 3 },
    {
      id: 'broken-model',
      name: 'Never loads',
      minGpuMemoryGb: 8,
      loadSeconds: 1,
      failsToLoad: true,
    },
    {
      id: 'restarting-model',
      name: 'Restarts a few times after it loads (kwok)',
      minGpuMemoryGb: 8,
      loadSeconds: 0.3,
      simulatesRestarts: true,
    },
  ],
});

export function dedicatedSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'fast-model',
    cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
    scaling: { minReplicas: 1, maxReplicas: 2, metric: 'concurrency', threshold: 8 },
    readinessTimeoutSeconds: 20,
    ...overrides,
  };
}

/** A BYOC spec on the tests' linked cluster "team-eks", node group "gpu-h100" (8 x H100 nodes). */
export function byocSpec(
  cloud: Record<string, unknown> = {},
  scaling: Record<string, unknown> = {},
): Record<string, unknown> {
  return dedicatedSpec({
    cloud: {
      type: 'byoc',
      cluster: 'team-eks',
      nodeGroup: 'gpu-h100',
      gpusPerReplica: 8,
      resources: { cpuRequest: '8', cpuLimit: '16', memoryRequest: '64Gi', memoryLimit: '128Gi' },
      ...cloud,
    },
    scaling: { minReplicas: 1, maxReplicas: 1, metric: 'concurrency', threshold: 8, ...scaling },
  });
}
