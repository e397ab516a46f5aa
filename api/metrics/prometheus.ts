/**
 * The API process's Prometheus metrics (prom-client), served on their own listener
 * (API_METRICS_PORT), never on the API port: a scrape needs no API key, and the API port keeps
 * its auth by route.
 *
 * - `model_deployments_gateway_request_duration_seconds{deployment, code}`: histogram of the
 *   gateway's requests per deployment ("workspace/name") and HTTP status, from the route to the
 *   end of the answer (a stream to its last byte; a request held while the deployment wakes,
 *   its wait included). Only deployments that exist get a series.
 * - `model_deployments_gateway_held_requests{deployment}`: requests held now, waiting for a
 *   replica (scale from zero, loading); a deployment with none has no series.
 * - `model_deployments_gateway_held_requests_total{deployment}`: requests held so far.
 * - prom-client's default process metrics (`process_*`, `nodejs_*`): CPU, memory, event loop lag.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Log } from '../../config/logging';
import type { GatewayMetrics } from '../gateway';
import type { TrafficMeter } from './traffic-meter';

export const API_METRIC = {
  gatewayDuration: 'model_deployments_gateway_request_duration_seconds',
  held: 'model_deployments_gateway_held_requests',
  heldTotal: 'model_deployments_gateway_held_requests_total',
} as const;

/** Seconds: proxying adds milliseconds; generations take seconds; a held request up to 60 s. */
export const GATEWAY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

export class ApiMetrics implements GatewayMetrics {
  readonly registry = new Registry();
  private readonly duration: Histogram<'deployment' | 'code'>;
  private readonly heldTotal: Counter<'deployment'>;

  constructor(options: {
    meter: Pick<TrafficMeter, 'heldRequests'>;
    /** prom-client's default process metrics (default on). */
    processMetrics?: boolean;
  }) {
    const registers = [this.registry];
    this.duration = new Histogram({
      name: API_METRIC.gatewayDuration,
      help: 'Gateway requests by deployment and status: seconds from the route to the end of the answer',
      labelNames: ['deployment', 'code'],
      buckets: GATEWAY_BUCKETS,
      registers,
    });
    this.heldTotal = new Counter({
      name: API_METRIC.heldTotal,
      help: 'Gateway requests held waiting for a replica of the deployment (scale from zero, loading)',
      labelNames: ['deployment'],
      registers,
    });
    const { meter } = options;
    new Gauge({
      name: API_METRIC.held,
      help: 'Gateway requests held now, waiting for a replica of the deployment',
      labelNames: ['deployment'],
      registers,
      collect() {
        this.reset();
        for (const [deployment, held] of meter.heldRequests()) this.set({ deployment }, held);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  answered(deploymentId: string, status: number, seconds: number): void {
    this.duration.observe({ deployment: deploymentId, code: String(status) }, seconds);
  }

  held(deploymentId: string): void {
    this.heldTotal.inc({ deployment: deploymentId });
  }
}

export interface MetricsServer {
  /** The /metrics URL; undefined when not served (port 0, or it could not be bound). */
  url?: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` at `GET /metrics` on host:port (nothing else: 404). Port 0 serves nothing; a
 * port that cannot be bound is logged and nothing is served: the API works without metrics.
 */
export async function serveMetrics(options: {
  registry: Registry;
  host: string;
  port: number;
  /** The variable that sets the port, named when it cannot be used. */
  portVariable: string;
  log: Log;
}): Promise<MetricsServer> {
  const { registry, host, port, log } = options;
  if (port === 0) return { close: async () => undefined };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; see /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
      },
    );
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (err) => {
      log.warn(
        `metrics not served: cannot listen on ${host}:${port} (${err.message}); set ${options.portVariable} to a free port, or 0 for none`,
      );
      resolve(false);
    });
    server.listen(port, host, () => resolve(true));
  });
  if (!listening) return { close: async () => undefined };
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
