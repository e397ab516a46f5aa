/**
 * Load measured at the replicas: the active observer scrapes every ready replica's Prometheus
 * /metrics (vLLM names) once a scrape interval, keeps a windowed history per deployment
 * (replica-load.ts), and signals the deployment's workflow an observation only when the
 * signalling rules say so (load-rules.ts: past tolerance, urgent, or a rare keepalive).
 *
 * So every request is counted once, whichever API replica proxied it or whether it went straight
 * to the replica, and a steady deployment costs scrapes (to its replicas), not history events.
 * A deployment with no ready replica is not scraped (the gateway nudges one at zero).
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { RevisionStatus } from '../activities/providers/provider';
import { deploymentWorkflowId } from '../workflows/deployment/definitions';
import {
  metricsSignals,
  observationMattersQuery,
  type MetricsObservation,
  type MetricsSignalCause,
} from '../workflows/deployment/metrics';
import type { LogFn } from '../config/logging';
import { asksFirst, offerCause, offered, type LastOffered } from './load-rules';
import { observerMetrics, type AskAnswer, type ObserverMetrics } from './metrics';
import type { PromSample } from './prometheus-text';
import { ReplicaLoad } from './replica-load';
import { replicaSamples } from './replica-metrics';
import { mayScrape, scrapeReplica } from './scrape';

export interface LoadObserverOptions {
  client: Client;
  /** How often every ready replica is scraped (default 1 s, the cadence autoscaling reacts at). */
  intervalMs?: number;
  /** Scrape replicas at any address (a cluster's pod IPs), not only loopback ones. */
  allowNonLoopback?: boolean;
  /** Windows of the averages (default 30 s) and of the short window (6 s); tests shorten them. */
  windowMs?: number;
  shortWindowMs?: number;
  /** Scrapes in flight at once. */
  concurrency?: number;
  /** Reads one replica (tests); the default scrapes its /metrics. */
  scrape?: (url: string) => Promise<PromSample[] | undefined>;
  log?: LogFn;
  /** Where its metrics go (observer/metrics.ts); none when absent. */
  metrics?: ObserverMetrics;
}

/** How long the observer waits for a workflow to say whether an observation matters. */
const ASK_TIMEOUT_MS = 2_000;

interface DeploymentLoad {
  /** Ready replica URLs per existing revision (from the feed). */
  revisions: Map<number, string[]>;
  load: ReplicaLoad;
  lastSent?: LastOffered;
}

export class LoadObserver {
  readonly stats = {
    scrapes: 0,
    failedScrapes: 0,
    signals: 0,
    /** Observations past tolerance that the workflow said change nothing: not signalled. */
    unchanged: 0,
    skippedNotLoopback: 0,
  };
  private readonly deployments = new Map<string, DeploymentLoad>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private warnedNotLoopback = false;
  private readonly metrics: ObserverMetrics;

  constructor(private readonly options: LoadObserverOptions) {
    this.metrics = options.metrics ?? observerMetrics();
  }

  /** A revision's status from the feed: which of its replicas are ready (and so scraped). */
  update(status: RevisionStatus): void {
    let entry = this.deployments.get(status.deploymentId);
    if (!status.exists) {
      entry?.revisions.delete(status.revision);
      if (entry && entry.revisions.size === 0) this.deployments.delete(status.deploymentId);
      return;
    }
    if (!entry) {
      const { windowMs, shortWindowMs } = this.options;
      entry = {
        revisions: new Map(),
        load: new ReplicaLoad({
          ...(windowMs !== undefined ? { windowMs } : {}),
          ...(shortWindowMs !== undefined ? { shortWindowMs } : {}),
        }),
      };
      this.deployments.set(status.deploymentId, entry);
    }
    const ready = status.replicas.filter((r) => r.ready && r.url).map((r) => r.url);
    entry.revisions.set(status.revision, ready);
  }

  /**
   * The load of a deployment as last offered to its workflow (signalled, or found to change
   * nothing): the observer's own measure, which the workflow holds only when it matters.
   */
  lastOffered(deploymentId: string): MetricsObservation | undefined {
    return this.deployments.get(deploymentId)?.lastSent?.observation;
  }

  start(): void {
    const every = this.options.intervalMs ?? 1000;
    const tick = () => {
      this.running = this.tick(Date.now()).finally(() => {
        if (this.timer) this.timer = setTimeout(tick, every);
      });
    };
    this.timer = setTimeout(tick, every);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    this.deployments.clear();
  }

  /** Scrapes every ready replica once and signals the deployments whose load moved. */
  async tick(now: number): Promise<void> {
    const jobs: { entry: DeploymentLoad; url: string }[] = [];
    for (const entry of this.deployments.values())
      for (const urls of entry.revisions.values())
        for (const url of urls) {
          if (mayScrape(url, this.options.allowNonLoopback)) jobs.push({ entry, url });
          else this.notLoopback(url);
        }
    await inBatches(jobs, this.options.concurrency ?? 64, async ({ entry, url }) => {
      const samples = await (
        this.options.scrape ??
        ((u) => scrapeReplica(u, { allowNonLoopback: this.options.allowNonLoopback ?? false }))
      )(url);
      this.stats.scrapes++;
      if (!samples) this.stats.failedScrapes++;
      this.metrics.scraped(samples !== undefined);
      entry.load.record(url, now, samples && replicaSamples(samples));
    });
    const sends: Promise<void>[] = [];
    for (const [deploymentId, entry] of this.deployments) {
      const ready = [...entry.revisions.values()].flat();
      if (ready.length === 0) continue;
      const observation = entry.load.observe(ready, now);
      if (!observation) continue;
      const cause = offerCause(entry.lastSent, observation, now);
      if (cause) sends.push(this.send(deploymentId, entry, observation, now, cause));
    }
    await Promise.all(sends);
  }

  /**
   * Signals an observation, by the signal named for its cause; one that only moved (past
   * tolerance, or with the replicas) only if the workflow says it changes what it decides (a
   * query, which writes nothing). A workflow that cannot answer is signalled all the same.
   */
  private async send(
    deploymentId: string,
    entry: DeploymentLoad,
    observation: MetricsObservation,
    now: number,
    cause: MetricsSignalCause,
  ): Promise<void> {
    const [workspace = '', ...rest] = deploymentId.split('/');
    const handle = this.options.client.workflow.getHandle(
      deploymentWorkflowId(workspace, rest.join('/')),
    );
    try {
      if (asksFirst(cause)) {
        const answer = await this.matters(handle, observation);
        this.metrics.asked(answer);
        if (answer === 'unchanged') {
          entry.lastSent = offered(entry.lastSent, observation, now, false);
          this.stats.unchanged++;
          this.metrics.signal('metrics', 'unchanged');
          return;
        }
      }
      await handle.signal(metricsSignals[cause], observation);
      entry.lastSent = offered(entry.lastSent, observation, now, true);
      this.stats.signals++;
      this.metrics.signal('metrics', 'sent');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        entry.lastSent = { observation, at: now };
        return;
      }
      // Not recorded as sent: the next tick tries again with what it measures then.
      this.metrics.signal('metrics', 'failed');
      this.options.log?.(
        `observer: metrics for ${deploymentId} not delivered: ${(err as Error).message}`,
        { deploymentId },
      );
    }
  }

  /** The workflow's answer within ASK_TIMEOUT_MS; one that cannot answer (no worker) is told anyway. */
  private async matters(
    handle: ReturnType<Client['workflow']['getHandle']>,
    observation: MetricsObservation,
  ): Promise<AskAnswer> {
    return this.options.client
      .withDeadline(Date.now() + ASK_TIMEOUT_MS, () =>
        handle.query(observationMattersQuery, observation),
      )
      .then(
        (matters): AskAnswer => (matters ? 'matters' : 'unchanged'),
        (): AskAnswer => 'no_answer',
      );
  }

  private notLoopback(url: string): void {
    this.stats.skippedNotLoopback++;
    if (this.warnedNotLoopback) return;
    this.warnedNotLoopback = true;
    this.options.log?.(
      `observer: not scraping ${url} (not a loopback address); set OBSERVER_SCRAPE_ANY_ADDRESS=true where the observer runs next to the replicas (inside the cluster)`,
    );
  }
}

async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
