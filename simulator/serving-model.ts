/**
 * How fast one replica serves, from the catalog: a small roofline model of an LLM server with
 * continuous batching (vLLM). Pure.
 *
 * - Prefill is compute-bound: 2 FLOPs per parameter per prompt token, at PREFILL_MFU of the
 *   accelerators' dense BF16 throughput. One prefill at a time per replica (FIFO).
 * - Decode is memory-bound: each step reads the weights once, so one sequence gets
 *   bandwidth / weight bytes tokens per second at DECODE_EFFICIENCY; a batch of sequences shares
 *   the step, so each decodes at that speed, up to maxConcurrentSequences at once.
 * - Several accelerators per replica (tensor parallel) add up, at TENSOR_PARALLEL_EFFICIENCY.
 * - A replica is ready loadSeconds (the catalog's weight-load time) after it is started.
 */
import type { Catalog } from '../workflows/domain/catalog';

/** Model FLOPs utilisation of prefill: 40-60% is what vLLM reaches on long prompts. */
export const PREFILL_MFU = 0.5;
/** Share of the memory bandwidth a decode step gets: 60-80% in practice. */
export const DECODE_EFFICIENCY = 0.7;
/** Scaling of 2-8 accelerators in tensor parallel, per added accelerator. */
export const TENSOR_PARALLEL_EFFICIENCY = 0.9;
/** BF16 weights: two bytes a parameter. */
const BYTES_PER_PARAMETER = 2;
/** Sequences a replica batches when the catalog does not say (vLLM's default is 256; KV-bound). */
const DEFAULT_CONCURRENT_SEQUENCES = 32;

export interface ServingFigures {
  /** Prompt tokens a replica prefills per second (one prefill at a time). */
  prefillTokensPerSecond: number;
  /** Tokens one sequence decodes per second, whatever the batch (up to maxConcurrentSequences). */
  decodeTokensPerSecond: number;
  maxConcurrentSequences: number;
  /** From start to ready. */
  loadSeconds: number;
  /** GPUs a replica holds (what GPU-seconds count). */
  gpusPerReplica: number;
}

export class ServingFiguresError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/** The figures for `model` on `count` x `acceleratorType`, or a ServingFiguresError naming what is missing. */
export function servingFigures(
  catalog: Catalog,
  modelId: string,
  acceleratorType: string,
  count: number,
): ServingFigures {
  const model = catalog.models.find((m) => m.id === modelId);
  if (!model) throw new ServingFiguresError(`unknown model "${modelId}"`, 'model');
  const accelerator = catalog.accelerators.find((a) => a.type === acceleratorType);
  if (!accelerator) {
    throw new ServingFiguresError(
      `unknown accelerator "${acceleratorType}"`,
      'cloud.accelerator.type',
    );
  }
  if (model.parametersBillions === undefined) {
    throw new ServingFiguresError(
      `model ${model.id} has no parametersBillions in the catalog, so its serving speed cannot be simulated`,
      'model',
    );
  }
  if (accelerator.bf16Tflops === undefined || accelerator.memoryBandwidthGBps === undefined) {
    throw new ServingFiguresError(
      `accelerator ${accelerator.type} has no bf16Tflops and memoryBandwidthGBps in the catalog, so its serving speed cannot be simulated`,
      'cloud.accelerator.type',
    );
  }
  const parallel = count * (count > 1 ? TENSOR_PARALLEL_EFFICIENCY : 1);
  const flopsPerToken = 2 * model.parametersBillions * 1e9;
  const weightBytes = BYTES_PER_PARAMETER * model.parametersBillions * 1e9;
  return {
    prefillTokensPerSecond:
      (accelerator.bf16Tflops * 1e12 * PREFILL_MFU * parallel) / flopsPerToken,
    decodeTokensPerSecond:
      (accelerator.memoryBandwidthGBps * 1e9 * DECODE_EFFICIENCY * parallel) / weightBytes,
    maxConcurrentSequences: model.maxConcurrentSequences ?? DEFAULT_CONCURRENT_SEQUENCES,
    loadSeconds: model.loadSeconds,
    gpusPerReplica: count,
  };
}
