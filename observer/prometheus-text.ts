/**
 * The Prometheus text exposition format (0.0.4), read with @platformatic/promotel's parser into
 * flat samples: one per line, under the line's own name (`x_bucket`, `x_sum`, `x_count` stay
 * apart), with its labels.
 *
 * Why this parser: of the npm parsers, it is the maintained one (2026 releases) that reads what
 * the replicas serve: metric names with colons (`vllm:num_requests_running`) and labelled
 * histograms with their `_sum` and `_count` (parse-prometheus-text-format 1.1.1 drops those;
 * exposition 1.2.0 drops every sample of a name with a colon; prom2javascript 0.2.0 throws on
 * one). Its limit, pinned by test/unit/replica-metrics.test.ts: it skips, silently, a line it
 * cannot match: a value of NaN or +-Inf, more than one space or a tab before the value, a `}`
 * inside a label value. vLLM (Python's prometheus_client) and the simulated server write none
 * of these for the metrics the observer reads; a skipped line reads as an absent metric, never as
 * zero.
 */
import { parse } from '@platformatic/promotel';

export interface PromSample {
  /** The sample's own name, suffix included: `vllm:e2e_request_latency_seconds_sum`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The parser's synthetic labels: the family name (suffix stripped) and `bucket`/`sum`/`count`. */
const FAMILY_LABEL = '__metric_name';
const SUFFIX_LABEL = '__suffix';

/** Every sample of a scrape. Throws on a line the parser matched but cannot read (a value of "."). */
export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const series of parse(text).timeseries ?? []) {
    const labels: Record<string, string> = {};
    let family: string | undefined;
    let suffix: string | undefined;
    for (const { name, value } of series.labels ?? []) {
      if (name === FAMILY_LABEL) family = value ?? undefined;
      else if (name === SUFFIX_LABEL) suffix = value ?? undefined;
      else if (name) labels[name] = value ?? '';
    }
    if (!family) continue;
    const name = suffix ? `${family}_${suffix}` : family;
    // One series per name and label set; a scrape repeating one keeps the last, as Prometheus does.
    const last = series.samples?.at(-1);
    if (last?.value === undefined || last.value === null) continue;
    samples.push({ name, labels, value: last.value });
  }
  return samples;
}
