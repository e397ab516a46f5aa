/**
 * Simulations: a policy dry-run on a traffic trace (api.md, "Simulations"). The spec (or a
 * deployment's own, with overrides) runs against the trace on the product's decision code, next
 * to the baselines asked for; nothing is deployed. JSON by default, or the chart with
 * `Accept: image/svg+xml`. The run is CPU work in this process, done in slices so the gateway
 * keeps answering meanwhile, and at most MAX_RUNNING at a time.
 */
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Catalog } from '../../workflows/domain/catalog';
import { deploymentNameSchema } from '../../workflows/domain/spec';
import { simulationChart } from '../../simulator/chart';
import { ServingFiguresError } from '../../simulator/serving-model';
import { BASELINES, simulateInSlices } from '../../simulator/simulate';
import {
  MAX_TRACE_REQUESTS,
  parseAzureCsv,
  parseRequests,
  TraceError,
  type Trace,
} from '../../simulator/trace';
import type { DeploymentService } from '../deployment-service';
import { HttpError } from '../errors';
import { errorResponses, workspaceParams } from '../schemas';

/** Simulations run at once per API process; more answer 503 with Retry-After. */
const MAX_RUNNING = 2;
/** A million CSV rows is about 40 MB. */
const BODY_LIMIT = 64 * 1024 * 1024;

const traceSchema = z.discriminatedUnion(
  'format',
  [
    z.strictObject({ format: z.literal('azure-llm-csv'), data: z.string() }),
    z.strictObject({
      format: z.literal('requests'),
      // Each request is checked by the trace parser, which names the first bad one.
      requests: z
        .array(z.unknown())
        .max(MAX_TRACE_REQUESTS, `at most ${MAX_TRACE_REQUESTS} requests`),
    }),
    z.strictObject({ format: z.literal('recorded'), from: z.string(), to: z.string() }),
  ],
  { error: 'trace.format must be "azure-llm-csv", "requests" or "recorded"' },
);

const simulationBodySchema = z.strictObject({
  spec: z.record(z.string(), z.unknown()).optional(),
  deployment: deploymentNameSchema.optional(),
  overrides: z.record(z.string(), z.unknown()).optional(),
  trace: traceSchema,
  slo: z.strictObject({ p99LatencyMs: z.number().positive() }).optional(),
  compareWith: z.array(z.enum(BASELINES)).max(BASELINES.length).optional(),
});

const latencySchema = z.object({ p50: z.number(), p90: z.number(), p99: z.number() });
const outcomeShape = {
  gpuSeconds: z.number(),
  latencyMs: latencySchema,
  sloViolations: z.number().int(),
  rejected: z.number().int(),
  coldStarts: z.number().int(),
  scaleEvents: z.number().int(),
  replicas: z.array(
    z.object({
      at: z.string(),
      replicas: z.number().int(),
      reason: z.string(),
      message: z.string(),
    }),
  ),
};
const simulationResultSchema = z.object({
  ...outcomeShape,
  requests: z.number().int(),
  from: z.string(),
  to: z.string(),
  slo: z.object({ p99LatencyMs: z.number() }),
  serving: z.object({
    prefillTokensPerSecond: z.number(),
    decodeTokensPerSecond: z.number(),
    maxConcurrentSequences: z.number().int(),
    loadSeconds: z.number(),
    gpusPerReplica: z.number().int(),
  }),
  baselines: z.record(z.string(), z.object(outcomeShape)),
});

export const simulationRoutes: FastifyPluginAsyncZod<{
  catalog: Catalog;
  service: DeploymentService;
}> = async (app, { catalog, service }) => {
  let running = 0;
  /** The requests holding a slot (a refused one holds none, and its response gives none back). */
  const holding = new WeakSet<object>();
  app.post('/v1/workspaces/:workspace/simulations', {
    bodyLimit: BODY_LIMIT,
    // The slot is taken before the body is read: a body of tens of MB is parsed only when it runs.
    onRequest: async (request) => {
      if (running >= MAX_RUNNING) {
        throw new HttpError(
          503,
          'unavailable',
          `${MAX_RUNNING} simulations are running on this API process; retry shortly`,
          { 'retry-after': '5' },
        );
      }
      running++;
      holding.add(request);
    },
    // Given back once, by whichever comes first: the run's end, the response, the client leaving.
    onResponse: async (request) => release(request),
    onRequestAbort: async (request) => release(request),
    schema: {
      tags: ['simulations'],
      summary: 'Dry-run scaling settings on a traffic trace (JSON, or an SVG chart)',
      params: workspaceParams,
      body: simulationBodySchema,
      response: {
        200: simulationResultSchema.describe(
          'The outcome; with Accept: image/svg+xml, a chart of load and replicas over time instead',
        ),
        ...errorResponses(400, 401, 403, 404, 413, 414, 415, 503),
      },
    },
    handler: async (request, reply) => {
      const svg = wantsSvg(request.headers.accept);
      const { trace: traceBody, slo, compareWith, ...which } = request.body;
      const spec = await service.specToSimulate(request.params.workspace, which);
      const trace = parseTrace(traceBody);
      // A client that goes away stops its simulation (between slices).
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort(new Error('the client went away'));
      });
      try {
        const result = await simulateInSlices(
          {
            spec,
            trace,
            catalog,
            ...(slo ? { slo } : {}),
            ...(compareWith ? { compareWith } : {}),
          },
          { signal: gone.signal },
        );
        if (svg) {
          // A string with its own type is sent as it is (the JSON schema serializes objects only).
          return reply.type('image/svg+xml').send(simulationChart(result, trace) as never);
        }
        const { readyTimeline: _chartOnly, ...outcome } = result;
        return outcome;
      } catch (err) {
        if (gone.signal.aborted) request.log.info('simulation stopped: the client went away');
        if (err instanceof ServingFiguresError) {
          throw new HttpError(400, 'invalid_spec', err.message, {}, [
            { path: err.path, message: err.message },
          ]);
        }
        throw err;
      } finally {
        release(request);
      }
    },
  });

  function release(request: object): void {
    if (holding.delete(request)) running--;
  }
};

function parseTrace(body: z.output<typeof traceSchema>): Trace {
  try {
    switch (body.format) {
      case 'azure-llm-csv':
        return parseAzureCsv(body.data);
      case 'requests':
        return parseRequests(body.requests);
      case 'recorded':
        throw new TraceError(
          'recorded traffic is not kept yet: export your gateway logs as "requests" or an azure-llm-csv trace',
        );
    }
  } catch (err) {
    if (err instanceof TraceError) {
      const path = body.format === 'azure-llm-csv' ? 'trace.data' : `trace.${body.format}`;
      throw new HttpError(400, 'invalid_trace', `invalid trace: ${err.message}`, {}, [
        { path, message: err.message },
      ]);
    }
    throw err;
  }
}

/** Whether the client asked for the chart: image/svg+xml listed before JSON (or alone). */
function wantsSvg(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const part of accept.split(',')) {
    const type = part.split(';')[0]!.trim().toLowerCase();
    if (type === 'image/svg+xml' || type === 'image/*') return true;
    if (type === 'application/json' || type === 'application/*' || type === '*/*') return false;
  }
  return false;
}
