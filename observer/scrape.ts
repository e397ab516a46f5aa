/**
 * Scrapes one replica's Prometheus /metrics: over a shared keep-alive connection pool, within a
 * short timeout, and answers undefined when that fails (the caller skips the scrape: a replica
 * that did not answer is not a replica without load).
 *
 * Only loopback replicas are dialled unless `allowNonLoopback` is set: the local runtime's
 * replicas listen on 127.0.0.1, and on a development machine or CI the addresses a Kubernetes
 * runtime reports (kwok's fake pod IPs, 10.0.x.x) must not be dialled. A cluster deployment of
 * the observer turns the option on by configuration.
 */
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { parsePrometheusText, type PromSample } from './prometheus-text';

export const SCRAPE_TIMEOUT_MS = 500;

/** The part of fetch a scrape uses (undici's over the shared pool by default; a test's own). */
export type ScrapeFetch = (
  url: string,
  init: { signal: AbortSignal },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export interface ScrapeOptions {
  /** Whole request, body included (default SCRAPE_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Dial replicas at any address, not only loopback ones (default false). */
  allowNonLoopback?: boolean;
  fetch?: ScrapeFetch;
  /** Why a scrape gave nothing (refused, failed, timed out, not metrics). */
  log?: (message: string) => void;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether a replica URL's host is a loopback address (IPv4-mapped IPv6 included) or `localhost`. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  if (host === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether scrapeReplica would dial `url` under `allowNonLoopback`. */
export function mayScrape(url: string, allowNonLoopback = false): boolean {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return false;
  }
  if (protocol !== 'http:' && protocol !== 'https:') return false;
  return allowNonLoopback || isLoopbackUrl(url);
}

let pool: Agent | undefined;

/**
 * Keep-alive connections shared by every scrape: one per replica, reused by its scrape every
 * second (a replica is scraped once at a time; a second scrape of it would wait its turn).
 */
function sharedPool(): Agent {
  pool ??= new Agent({ keepAliveTimeout: 4_000, connections: 1 });
  return pool;
}

const defaultFetch: ScrapeFetch = (url, init) =>
  undiciFetch(url, { ...init, dispatcher: sharedPool() });

/** Closes the shared pool's connections (an observer stopping); the next scrape opens a new one. */
export async function closeScrapePool(): Promise<void> {
  const closing = pool;
  pool = undefined;
  await closing?.close();
}

/**
 * The samples of `${replicaUrl}/metrics`, or undefined when the URL may not be dialled, the
 * request fails or times out, the status is not 2xx, or the body holds no sample.
 */
export async function scrapeReplica(
  replicaUrl: string,
  options: ScrapeOptions = {},
): Promise<PromSample[] | undefined> {
  const target = `${replicaUrl.replace(/\/+$/, '')}/metrics`;
  if (!mayScrape(target, options.allowNonLoopback)) {
    options.log?.(
      `not scraping ${target}: only loopback http(s) replicas are scraped unless allowNonLoopback is set`,
    );
    return undefined;
  }
  const fetchMetrics = options.fetch ?? defaultFetch;
  try {
    const res = await fetchMetrics(target, {
      signal: AbortSignal.timeout(options.timeoutMs ?? SCRAPE_TIMEOUT_MS),
    });
    const body = await res.text();
    if (!res.ok) {
      options.log?.(`scrape of ${target} answered ${res.status}`);
      return undefined;
    }
    const samples = parsePrometheusText(body);
    if (samples.length === 0) {
      options.log?.(`scrape of ${target} holds no Prometheus sample`);
      return undefined;
    }
    return samples;
  } catch (err) {
    options.log?.(`scrape of ${target} failed: ${(err as Error).message}`);
    return undefined;
  }
}
