/**
 * What a replica's /metrics says about its load: the parser on real outputs (a vLLM 0.6 scrape,
 * the simulated model server's own render()), the vLLM samples read from them, and absent
 * metrics staying absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../../observer/prometheus-text';
import { concurrencyOf, replicaSamples } from '../../observer/replica-metrics';
import { Metrics } from '../../runtime/model-server/metrics';

const VLLM_SCRAPE = fs.readFileSync(
  path.join(__dirname, '..', 'fixtures', 'vllm-0.6-metrics.txt'),
  'utf8',
);
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

describe('parsePrometheusText on a vLLM 0.6 scrape', () => {
  const samples = parsePrometheusText(VLLM_SCRAPE);
  const named = (name: string) => samples.filter((s) => s.name === name);

  it('reads metric names with colons, with their labels', () => {
    expect(named('vllm:num_requests_running')).toEqual([
      { name: 'vllm:num_requests_running', labels: { model_name: MODEL }, value: 5 },
    ]);
    expect(named('vllm:request_success_total')).toEqual([
      {
        name: 'vllm:request_success_total',
        labels: { finished_reason: 'length', model_name: MODEL },
        value: 31,
      },
      {
        name: 'vllm:request_success_total',
        labels: { finished_reason: 'stop', model_name: MODEL },
        value: 119,
      },
    ]);
  });

  it('keeps a labelled histogram whole: every bucket, and _sum and _count with their labels', () => {
    const buckets = named('vllm:e2e_request_latency_seconds_bucket');
    expect(buckets.map((b) => [b.labels.le, b.value])).toEqual([
      ['1.0', 12],
      ['2.5', 58],
      ['5.0', 131],
      ['10.0', 148],
      ['15.0', 150],
      ['20.0', 150],
      ['30.0', 150],
      ['40.0', 150],
      ['50.0', 150],
      ['60.0', 150],
      ['+Inf', 150],
    ]);
    expect(buckets.every((b) => b.labels.model_name === MODEL)).toBe(true);
    expect(named('vllm:e2e_request_latency_seconds_sum')).toEqual([
      {
        name: 'vllm:e2e_request_latency_seconds_sum',
        labels: { model_name: MODEL },
        value: 487.53120946884155,
      },
    ]);
    expect(named('vllm:e2e_request_latency_seconds_count')).toEqual([
      { name: 'vllm:e2e_request_latency_seconds_count', labels: { model_name: MODEL }, value: 150 },
    ]);
  });

  it('keeps _created series and empty label values apart', () => {
    expect(named('vllm:request_success_created')).toHaveLength(2);
    expect(named('vllm:lora_requests_info')).toEqual([
      {
        name: 'vllm:lora_requests_info',
        labels: { max_lora: '0', running_lora_adapters: '', waiting_lora_adapters: '' },
        value: 1733157081.2345,
      },
    ]);
  });
});

describe('replicaSamples', () => {
  it('reads a vLLM 0.6 scrape', () => {
    expect(replicaSamples(parsePrometheusText(VLLM_SCRAPE))).toEqual({
      running: 5,
      waiting: 2,
      requestSuccess: 150, // 31 length + 119 stop
      latencySumSeconds: 487.53120946884155,
      latencyCount: 150,
      memoryPercent: 42.1,
    });
  });

  it("reads the simulated model server's own output", () => {
    const metrics = new Metrics('llama-3.1-8b-instruct', 8);
    metrics.running = 3;
    metrics.waiting = 2;
    metrics.requestSuccess = 7;
    metrics.observeLatency(0.03);
    metrics.observeLatency(1.2);
    expect(replicaSamples(parsePrometheusText(metrics.render()))).toEqual({
      running: 3,
      waiting: 2,
      requestSuccess: 7,
      latencySumSeconds: 1.23,
      latencyCount: 2,
      memoryPercent: 37.5, // 3 of 8 sequences
    });
  });

  it.each([
    [
      'label sets are summed (two engines of a data-parallel server); cache usage is their mean',
      [
        'vllm:num_requests_running{engine="0",model_name="m"} 2.0',
        'vllm:num_requests_running{engine="1",model_name="m"} 3.0',
        'vllm:num_requests_waiting{engine="0",model_name="m"} 1.0',
        'vllm:num_requests_waiting{engine="1",model_name="m"} 0.0',
        'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 10.0',
        'vllm:request_success_total{engine="1",finished_reason="stop",model_name="m"} 4.0',
        'vllm:request_success_total{engine="1",finished_reason="abort",model_name="m"} 1.0',
        'vllm:e2e_request_latency_seconds_sum{engine="0",model_name="m"} 20.0',
        'vllm:e2e_request_latency_seconds_sum{engine="1",model_name="m"} 10.0',
        'vllm:e2e_request_latency_seconds_count{engine="0",model_name="m"} 10.0',
        'vllm:e2e_request_latency_seconds_count{engine="1",model_name="m"} 5.0',
        'vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.2',
        'vllm:gpu_cache_usage_perc{engine="1",model_name="m"} 0.4',
      ],
      {
        running: 5,
        waiting: 1,
        requestSuccess: 15,
        latencySumSeconds: 30,
        latencyCount: 15,
        memoryPercent: 30,
      },
    ],
    [
      'a scrape without vLLM metrics has none (absent, not zero)',
      ['process_resident_memory_bytes 43405312', 'python_info{version="3.12.7"} 1.0'],
      {},
    ],
    [
      'each missing metric is absent on its own',
      ['vllm:num_requests_running{model_name="m"} 0', 'vllm:request_success_total 0'],
      { running: 0, requestSuccess: 0 },
    ],
    [
      "vLLM 0.10's kv_cache_usage_perc stands in for gpu_cache_usage_perc",
      ['vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25'],
      { memoryPercent: 25 },
    ],
    [
      'gpu_cache_usage_perc wins over kv_cache_usage_perc when a server has both',
      ['vllm:gpu_cache_usage_perc 0.5', 'vllm:kv_cache_usage_perc 0.25'],
      { memoryPercent: 50 },
    ],
    [
      'the parser skips a NaN line: the metric reads as absent, not as zero',
      ['vllm:num_requests_running{model_name="m"} NaN', 'vllm:num_requests_waiting 1'],
      { waiting: 1 },
    ],
    [
      'the parser skips a line with two spaces before the value (its known limit)',
      ['vllm:num_requests_running{model_name="m"}  4', 'vllm:num_requests_waiting 1'],
      { waiting: 1 },
    ],
    [
      'escaped label values do not break a line',
      ['vllm:num_requests_running{model_name="a \\"quoted\\" \\\\ name"} 4'],
      { running: 4 },
    ],
  ])('%s', (_sentence, lines, expected) => {
    expect(replicaSamples(parsePrometheusText(lines.join('\n') + '\n'))).toEqual(expected);
  });
});

describe('concurrencyOf', () => {
  it.each([
    ['running and waiting', { running: 3, waiting: 2 }, 5],
    ['running only', { running: 3 }, 3],
    ['waiting only', { waiting: 2 }, 2],
    ['neither', { requestSuccess: 10 }, undefined],
  ])('%s', (_sentence, samples, expected) => {
    expect(concurrencyOf(samples)).toBe(expected);
  });
});
