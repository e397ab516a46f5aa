/**
 * POST /v1/workspaces/{ws}/simulations against the real stack (dev server, worker, local
 * runtime, the API over HTTP): a spec or a live deployment with overrides, on a slice of the
 * shipped trace; the chart; and the errors, each naming its field or line.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedicatedSpec } from '../helpers/catalog';
import { waitFor } from '../helpers/harness';
import { apiClient, startStack, type Stack } from '../helpers/stack';

const SHIPPED = path.join(__dirname, '../../simulator/traces/azure-llm-2023-code.csv');
/** The header and the first 2,000 requests (about 14 minutes of the shipped trace). */
const SLICE = readFileSync(SHIPPED, 'utf8').split('\n').slice(0, 2001).join('\n');

let stack: Stack;
let api: ReturnType<typeof apiClient>;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack);
  base = `/v1/workspaces/${stack.workspace}/simulations`;
});
afterAll(async () => stack?.stop());

interface Outcome {
  requests: number;
  slo: unknown;
  gpuSeconds: number;
  latencyMs: { p50: number; p90: number; p99: number };
  replicas: { replicas: number; reason: string; message: string }[];
  scaleEvents: number;
  baselines: Record<string, Outcome>;
  error: { code: string; details: { path: string }[] };
}
const outcome = (res: { body: unknown }) => res.body as Outcome;

const spec = dedicatedSpec({
  scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
});
const csv = { format: 'azure-llm-csv', data: SLICE };

describe('simulations', () => {
  it('runs a spec on a trace: the outcome, each decision with why, and the baselines', async () => {
    const res = await api('POST', base, {
      spec,
      trace: csv,
      slo: { p99LatencyMs: 1500 },
      compareWith: ['static-peak', 'hpa-default'],
    });
    expect(res.status).toBe(200);
    const body = outcome(res);
    expect(body.requests).toBe(2000);
    expect(body.slo).toEqual({ p99LatencyMs: 1500 });
    expect(body.gpuSeconds).toBeGreaterThan(0);
    expect(body.latencyMs.p99).toBeGreaterThanOrEqual(body.latencyMs.p50);
    expect(body.replicas[0]).toMatchObject({ replicas: 1, reason: 'Created' });
    expect(body.scaleEvents).toBe(body.replicas.length - 1);
    expect(body.scaleEvents).toBeGreaterThan(0);
    for (const change of body.replicas.slice(1))
      expect(change.message).toMatch(/concurrency|no traffic/);
    const peak = body.baselines['static-peak']!;
    expect(peak.replicas).toHaveLength(1);
    expect(peak.gpuSeconds).toBeGreaterThan(body.gpuSeconds);
    expect(body.baselines['hpa-default']!.latencyMs.p99).toEqual(expect.any(Number));
  });

  it('answers the chart with Accept: image/svg+xml', async () => {
    const res = await fetch(`${stack.baseUrl}${base}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.key}`,
        'content-type': 'application/json',
        accept: 'image/svg+xml',
      },
      body: JSON.stringify({ spec, trace: csv, compareWith: ['static-peak'] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    const svg = await res.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('replicas set');
    expect(svg).toContain('static-peak');
  });

  it('tries a change to a live deployment: its spec with overrides', async () => {
    const name = 'sim-live';
    expect(
      (await api('POST', `/v1/workspaces/${stack.workspace}/deployments`, { name, ...spec }))
        .status,
    ).toBe(202);
    await waitFor(
      async () => (await api('GET', `/v1/workspaces/${stack.workspace}/deployments/${name}`)).body,
      (b) => b.state === 'running',
      `${name} running`,
    );
    const asIs = await api('POST', base, { deployment: name, trace: csv });
    const capped = await api('POST', base, {
      deployment: name,
      overrides: { scaling: { maxReplicas: 1 } },
      trace: csv,
    });
    expect(asIs.status).toBe(200);
    expect(capped.status).toBe(200);
    expect(Math.max(...outcome(asIs).replicas.map((r) => r.replicas))).toBeGreaterThan(1);
    expect(outcome(capped).replicas).toHaveLength(1);
    const bad = await api('POST', base, {
      deployment: name,
      overrides: { scaling: { maxReplicas: 0 } },
      trace: csv,
    });
    expect(bad.status).toBe(400);
    expect(outcome(bad).error.details[0]!.path).toBe('overrides.scaling.maxReplicas');
    const missing = await api('POST', base, { deployment: 'no-such', trace: csv });
    expect(missing.status).toBe(404);
  });

  it.each([
    [
      'a bad trace line, named',
      {
        spec,
        trace: {
          format: 'azure-llm-csv',
          data: `${SLICE.split('\n').slice(0, 3).join('\n')}\nnot,a,row`,
        },
      },
      'invalid_trace',
      /line 4: TIMESTAMP .*not/,
    ],
    [
      'requests out of order',
      {
        spec,
        trace: {
          format: 'requests',
          requests: [
            { at: '2026-01-01T00:00:01Z', promptTokens: 1, outputTokens: 1 },
            { at: '2026-01-01T00:00:00Z', promptTokens: 1, outputTokens: 1 },
          ],
        },
      },
      'invalid_trace',
      /requests\[1\]: arrives before/,
    ],
    [
      'recorded traffic (not kept yet)',
      { spec, trace: { format: 'recorded', from: 'a', to: 'b' } },
      'invalid_trace',
      /not kept yet/,
    ],
    [
      'a spec breaking a rule',
      { spec: { ...spec, scaling: { minReplicas: 3, maxReplicas: 2 } }, trace: csv },
      'invalid_spec',
      /spec.scaling.minReplicas/,
    ],
    [
      'neither spec nor deployment',
      { trace: csv },
      'invalid_spec',
      /either a spec or the name of a deployment/,
    ],
    [
      'overrides with a spec (they apply to a deployment)',
      { spec, overrides: { scaling: { maxReplicas: 2 } }, trace: csv },
      'invalid_spec',
      /overrides apply to a deployment/,
    ],
    [
      'a null request in the trace',
      { spec, trace: { format: 'requests', requests: [null] } },
      'invalid_trace',
      /requests\[0\]: must be an object/,
    ],
    [
      'a model without serving figures',
      { spec: { ...spec, model: 'slow-model' }, trace: csv },
      'invalid_spec',
      /no parametersBillions/,
    ],
    [
      'an unknown baseline',
      { spec, trace: csv, compareWith: ['k8s'] },
      'invalid_spec',
      /compareWith/,
    ],
  ])('refuses %s with 400', async (_what, body, code, message) => {
    const res = await api('POST', base, body);
    expect(res.status).toBe(400);
    expect(outcome(res).error.code).toBe(code);
    expect(JSON.stringify(res.body)).toMatch(message);
  });

  it('checks the workspace against the key', async () => {
    const other = apiClient(stack, stack.otherKey);
    expect((await other('POST', base, { spec, trace: csv })).status).toBe(403);
    const res = await fetch(`${stack.baseUrl}${base}`, { method: 'POST' });
    expect(res.status).toBe(401);
  });
});
