/**
 * Catalogs of models and accelerators, and the spec checks that need them.
 *
 * The built-ins below are the embedded default; `config/catalog.ts` reads an optional file
 * (CATALOG_FILE) that replaces them. Pure data and functions: usable from the API and workflows.
 */
import { z } from 'zod';
import type { DeploymentSpec, ScalingMetric, Violation } from './spec';
import { SCALING_METRICS } from './spec';

export const acceleratorSchema = z.strictObject({
  type: z.string().min(1),
  memoryGb: z.number().positive(),
  description: z.string().optional(),
});

export const modelSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  kind: z.enum(['llm', 'embedding', 'speech', 'vision']).default('llm'),
  /** GPU memory the weights and a working KV cache need, per replica. */
  minGpuMemoryGb: z.number().positive(),
  /** Scaling metrics that make sense for this kind of model ("may vary depending on the model type"). */
  metrics: z
    .array(z.enum(SCALING_METRICS))
    .min(1)
    .default([...SCALING_METRICS]),
  /** Weight-load time the local runtime simulates (and the typical load time on real GPUs). */
  loadSeconds: z.number().min(0),
  /** Local runtime only: the simulated server never becomes ready. For rollback drills. */
  failsToLoad: z.boolean().optional(),
  /** Kubernetes simulation only (kwok): replicas restart a few times after they load. For restart drills. */
  simulatesRestarts: z.boolean().optional(),
});

export const catalogSchema = z.strictObject({
  accelerators: z.array(acceleratorSchema).min(1),
  models: z.array(modelSchema).min(1),
});

export type Accelerator = z.output<typeof acceleratorSchema>;
export type Model = z.output<typeof modelSchema>;
export type Catalog = z.output<typeof catalogSchema>;

export const BUILTIN_CATALOG: Catalog = catalogSchema.parse({
  accelerators: [
    { type: 'T4', memoryGb: 16, description: 'NVIDIA T4 16 GB' },
    { type: 'L4', memoryGb: 24, description: 'NVIDIA L4 24 GB' },
    { type: 'A10G', memoryGb: 24, description: 'NVIDIA A10G 24 GB' },
    { type: 'L40S', memoryGb: 48, description: 'NVIDIA L40S 48 GB' },
    { type: 'A100-40GB', memoryGb: 40, description: 'NVIDIA A100 40 GB' },
    { type: 'A100-80GB', memoryGb: 80, description: 'NVIDIA A100 80 GB' },
    { type: 'H100', memoryGb: 80, description: 'NVIDIA H100 80 GB' },
    { type: 'H200', memoryGb: 141, description: 'NVIDIA H200 141 GB' },
    { type: 'B200', memoryGb: 192, description: 'NVIDIA B200 192 GB' },
  ],
  models: [
    {
      id: 'llama-3.1-8b-instruct',
      name: 'Llama 3.1 8B Instruct',
      minGpuMemoryGb: 20,
      loadSeconds: 3,
    },
    {
      id: 'llama-3.1-70b-instruct',
      name: 'Llama 3.1 70B Instruct',
      minGpuMemoryGb: 160,
      loadSeconds: 8,
    },
    {
      id: 'mistral-7b-instruct',
      name: 'Mistral 7B Instruct v0.3',
      minGpuMemoryGb: 18,
      loadSeconds: 3,
    },
    {
      id: 'qwen2.5-32b-instruct',
      name: 'Qwen2.5 32B Instruct',
      minGpuMemoryGb: 72,
      loadSeconds: 5,
    },
    {
      id: 'whisper-large-v3',
      name: 'Whisper large-v3',
      kind: 'speech',
      minGpuMemoryGb: 10,
      metrics: ['latency', 'throughput', 'concurrency'],
      loadSeconds: 2,
    },
    {
      id: 'bge-large-en-v1.5',
      name: 'BGE large EN v1.5',
      kind: 'embedding',
      minGpuMemoryGb: 4,
      metrics: ['throughput', 'concurrency', 'latency'],
      loadSeconds: 1,
    },
  ],
});

/** Checks of a (schema-valid) spec against the catalogs. Paths are relative to the spec. */
export function checkAgainstCatalog(spec: DeploymentSpec, catalog: Catalog): Violation[] {
  const violations: Violation[] = [];
  const model = catalog.models.find((m) => m.id === spec.model);
  if (!model) {
    violations.push({
      path: 'model',
      message: `unknown model "${spec.model}"; see GET /v1/models (${catalog.models.map((m) => m.id).join(', ')})`,
    });
    return violations;
  }
  if (!model.metrics.includes(spec.scaling.metric)) {
    violations.push({
      path: 'scaling.metric',
      message: `model ${model.id} (${model.kind}) scales on ${model.metrics.join(', ')}, not ${spec.scaling.metric}`,
    });
  }
  if (spec.cloud.type === 'dedicated') {
    const { type, count } = spec.cloud.accelerator;
    const accelerator = catalog.accelerators.find((a) => a.type === type);
    if (!accelerator) {
      violations.push({
        path: 'cloud.accelerator.type',
        message: `unknown accelerator "${type}"; see GET /v1/accelerators (${catalog.accelerators.map((a) => a.type).join(', ')})`,
      });
    } else if (accelerator.memoryGb * count < model.minGpuMemoryGb) {
      violations.push({
        path: 'cloud.accelerator.count',
        message: `${model.id} needs ${model.minGpuMemoryGb} GB of GPU memory per replica; ${count} x ${type} has ${accelerator.memoryGb * count} GB`,
      });
    }
  }
  return violations;
}

export function findModel(catalog: Catalog, id: string): Model | undefined {
  return catalog.models.find((m) => m.id === id);
}

export type { ScalingMetric };
