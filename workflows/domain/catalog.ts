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
  /**
   * Dense BF16 tensor throughput and memory bandwidth from the vendor's datasheet: what the
   * simulator's serving model (simulator/serving-model.ts) derives prefill and decode speed from.
   */
  bf16Tflops: z.number().positive().optional(),
  memoryBandwidthGBps: z.number().positive().optional(),
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
  /** Parameters, in billions: the weights' size (BF16) and the work per token, for the simulator. */
  parametersBillions: z.number().positive().optional(),
  /** Sequences one replica serves at once (vLLM's max_num_seqs, bounded by its KV cache). */
  maxConcurrentSequences: z.number().int().positive().optional(),
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

/**
 * Serving figures (used by the simulator only): accelerators' dense BF16 tensor TFLOPS and memory
 * bandwidth are NVIDIA's datasheet figures (T4: FP16 mixed precision; A10G: AWS's G5 figure);
 * models' parameter counts are their model cards'; concurrent sequences are what vLLM's KV cache
 * holds for this code trace's ~2k-token prompts on the smallest accelerator that fits the model.
 */
export const BUILTIN_CATALOG: Catalog = catalogSchema.parse({
  accelerators: [
    {
      type: 'T4',
      memoryGb: 16,
      description: 'NVIDIA T4 16 GB',
      bf16Tflops: 65,
      memoryBandwidthGBps: 320,
    },
    {
      type: 'L4',
      memoryGb: 24,
      description: 'NVIDIA L4 24 GB',
      bf16Tflops: 121,
      memoryBandwidthGBps: 300,
    },
    {
      type: 'A10G',
      memoryGb: 24,
      description: 'NVIDIA A10G 24 GB',
      bf16Tflops: 70,
      memoryBandwidthGBps: 600,
    },
    {
      type: 'L40S',
      memoryGb: 48,
      description: 'NVIDIA L40S 48 GB',
      bf16Tflops: 362,
      memoryBandwidthGBps: 864,
    },
    {
      type: 'A100-40GB',
      memoryGb: 40,
      description: 'NVIDIA A100 40 GB',
      bf16Tflops: 312,
      memoryBandwidthGBps: 1555,
    },
    {
      type: 'A100-80GB',
      memoryGb: 80,
      description: 'NVIDIA A100 80 GB',
      bf16Tflops: 312,
      memoryBandwidthGBps: 2039,
    },
    {
      type: 'H100',
      memoryGb: 80,
      description: 'NVIDIA H100 80 GB',
      bf16Tflops: 989,
      memoryBandwidthGBps: 3350,
    },
    {
      type: 'H200',
      memoryGb: 141,
      description: 'NVIDIA H200 141 GB',
      bf16Tflops: 989,
      memoryBandwidthGBps: 4800,
    },
    {
      type: 'B200',
      memoryGb: 192,
      description: 'NVIDIA B200 192 GB',
      bf16Tflops: 2250,
      memoryBandwidthGBps: 8000,
    },
  ],
  models: [
    {
      id: 'llama-3.1-8b-instruct',
      name: 'Llama 3.1 8B Instruct',
      minGpuMemoryGb: 20,
      loadSeconds: 3,
      parametersBillions: 8.03,
      maxConcurrentSequences: 64,
    },
    {
      id: 'llama-3.1-70b-instruct',
      name: 'Llama 3.1 70B Instruct',
      minGpuMemoryGb: 160,
      loadSeconds: 8,
      parametersBillions: 70.6,
      maxConcurrentSequences: 32,
    },
    {
      id: 'mistral-7b-instruct',
      name: 'Mistral 7B Instruct v0.3',
      minGpuMemoryGb: 18,
      loadSeconds: 3,
      parametersBillions: 7.25,
      maxConcurrentSequences: 64,
    },
    {
      id: 'qwen2.5-32b-instruct',
      name: 'Qwen2.5 32B Instruct',
      minGpuMemoryGb: 72,
      loadSeconds: 5,
      parametersBillions: 32.8,
      maxConcurrentSequences: 48,
    },
    {
      id: 'whisper-large-v3',
      name: 'Whisper large-v3',
      kind: 'speech',
      minGpuMemoryGb: 10,
      metrics: ['latency', 'throughput', 'concurrency'],
      loadSeconds: 2,
      parametersBillions: 1.55,
      maxConcurrentSequences: 16,
    },
    {
      id: 'bge-large-en-v1.5',
      name: 'BGE large EN v1.5',
      kind: 'embedding',
      minGpuMemoryGb: 4,
      metrics: ['throughput', 'concurrency', 'latency'],
      loadSeconds: 1,
      parametersBillions: 0.335,
      maxConcurrentSequences: 64,
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
