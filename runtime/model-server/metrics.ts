/**
 * Prometheus metrics under vLLM's names, so the autoscaler and dashboards built for vLLM
 * work unchanged against the simulated server.
 */

/** Upper bounds (seconds) of the end-to-end latency histogram; +Inf is implied. */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  running = 0;
  waiting = 0;
  requestSuccess = 0;
  promptTokens = 0;
  generationTokens = 0;
  private readonly latencyBuckets = LATENCY_BUCKETS.map(() => 0);
  private latencySum = 0;
  private latencyCount = 0;

  constructor(
    private readonly model: string,
    /** Capacity of the simulated KV cache, in sequences. */
    private readonly maxNumSeqs: number,
  ) {}

  observeLatency(seconds: number): void {
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.latencyBuckets[i] = (this.latencyBuckets[i] ?? 0) + 1;
    });
    this.latencySum += seconds;
    this.latencyCount += 1;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const label = `model_name="${escapeLabel(this.model)}"`;
    const cacheUsage = Math.min(1, this.running / this.maxNumSeqs);
    const lines = [
      ...metric('vllm:num_requests_running', 'gauge', 'Requests being decoded.', [
        [label, this.running],
      ]),
      ...metric('vllm:num_requests_waiting', 'gauge', 'Requests waiting for a decode slot.', [
        [label, this.waiting],
      ]),
      ...metric('vllm:gpu_cache_usage_perc', 'gauge', 'KV cache usage, 1 means full.', [
        [label, cacheUsage],
      ]),
      ...metric('vllm:request_success_total', 'counter', 'Finished requests.', [
        [label, this.requestSuccess],
      ]),
      ...metric('vllm:prompt_tokens_total', 'counter', 'Prefill tokens processed.', [
        [label, this.promptTokens],
      ]),
      ...metric('vllm:generation_tokens_total', 'counter', 'Tokens generated.', [
        [label, this.generationTokens],
      ]),
      '# HELP vllm:e2e_request_latency_seconds End-to-end request latency, queueing included.',
      '# TYPE vllm:e2e_request_latency_seconds histogram',
      ...LATENCY_BUCKETS.map(
        (bound, i) =>
          `vllm:e2e_request_latency_seconds_bucket{${label},le="${bound}"} ${this.latencyBuckets[i] ?? 0}`,
      ),
      `vllm:e2e_request_latency_seconds_bucket{${label},le="+Inf"} ${this.latencyCount}`,
      `vllm:e2e_request_latency_seconds_sum{${label}} ${this.latencySum}`,
      `vllm:e2e_request_latency_seconds_count{${label}} ${this.latencyCount}`,
      ...metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [
        ['', process.memoryUsage.rss()],
      ]),
    ];
    return lines.join('\n') + '\n';
  }
}

function metric(name: string, type: string, help: string, samples: [string, number][]): string[] {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([labels, value]) => `${name}${labels ? `{${labels}}` : ''} ${value}`),
  ];
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
