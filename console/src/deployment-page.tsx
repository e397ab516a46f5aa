/**
 * One deployment, live: health and state with their meaning, the revision serving, replicas over
 * time next to the load and the threshold, events with reasons, the endpoint with a curl example,
 * the SSH command (when the API offers it), and links to its workflows in the Temporal UI.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  ApiError,
  consoleConfig,
  deploymentWorkflowId,
  rolloutWorkflowId,
  temporalLink,
  type Api,
  type ConsoleConfig,
  type Deployment,
  type DeploymentEvent,
  type SshAccess,
} from './api';
import { DeploymentActions } from './actions';
import { ReplicaChart } from './chart';
import { historyFromEvents, type Sample } from './history';
import { acceleratorText } from './list-page';
import { usePoll } from './poll';
import { href } from './routes';
import { HEALTH_MEANING, HealthBadge, Notice, STATE_MEANING, StateBadge, Tags } from './ui';

const UNITS: Record<string, string> = {
  memory: '% of limit',
  latency: 'ms',
  throughput: 'req/s per replica',
  concurrency: 'in flight per replica',
};
const MAX_SAMPLES = 1800; // one hour at 2 s
/** Samples per deployment, kept while the tab is open (leaving the page and coming back keeps them). */
const SAMPLES = new Map<string, Sample[]>();

export function DeploymentPage({ api, name }: { api: Api; name: string }) {
  const [d, setD] = useState<Deployment | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [events, setEvents] = useState<DeploymentEvent[]>([]);
  const [samples, setSamples] = useState<Sample[]>(() => SAMPLES.get(name) ?? []);
  const [ssh, setSsh] = useState<SshAccess | null>(null);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const [copied, setCopied] = useState<string | null>(null);

  useEffect(() => void consoleConfig().then(setConfig), []);

  usePoll(async () => {
    if (gone) return;
    try {
      const [{ body, etag: tag }, evs] = await Promise.all([
        api.deployment(name),
        api.events(name),
      ]);
      setD(body);
      setEtag(tag);
      setEvents(evs);
      setError(null);
      const next = [
        ...(SAMPLES.get(name) ?? []),
        { at: Date.now(), desired: body.replicas.desired, ready: body.replicas.ready },
      ].slice(-MAX_SAMPLES);
      SAMPLES.set(name, next);
      setSamples(next);
      if (body.spec.ssh?.enabled) setSsh(await api.ssh(name));
      else setSsh(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        setGone(true);
        return;
      }
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  }, [name, tick, gone]);

  if (gone) {
    return (
      <>
        <h1>{name}</h1>
        <p class="card" role="status">
          {name} is gone (deleted, or never existed). <a href={href.list()}>Back to deployments</a>
        </p>
      </>
    );
  }
  if (!d) {
    return (
      <>
        <h1>{name}</h1>
        <Notice error={error} />
        {!error ? <p aria-busy="true">Loading…</p> : null}
      </>
    );
  }

  const loading = d.replicas.ready < d.replicas.desired;
  const curl = `curl -s ${d.url}/v1/completions \\\n  -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\\n  -d '{"prompt": "Hello", "max_tokens": 16}'`;
  const copy = async (what: string, text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(what);
    } catch {
      setCopied(`${what}: select the text and copy it`);
    }
  };
  const rollouts = [
    ...new Set(
      events
        .filter((e) => e.type === 'Rollout' && e.revision !== undefined && e.revision > 1)
        .map((e) => e.revision as number),
    ),
  ].sort((a, b) => b - a);
  const history = historyFromEvents(events, d.spec.scaling.metric);

  return (
    <>
      <div class="row" style="align-items:center;justify-content:space-between">
        <h1>{d.name}</h1>
        <DeploymentActions
          api={api}
          deployment={d}
          etag={etag}
          onDone={() => setTick((t) => t + 1)}
        />
      </div>
      <Notice error={error} />
      <div class="grid2">
        <section class="card" aria-label="Status">
          <dl class="facts">
            <dt>Health</dt>
            <dd>
              <span data-testid="health">
                <HealthBadge health={d.health} />
              </span>{' '}
              <span class="hint">{HEALTH_MEANING[d.health]}</span>
            </dd>
            <dt>State</dt>
            <dd>
              <span data-testid="state">
                <StateBadge state={d.state} />
              </span>{' '}
              <span class="hint">{STATE_MEANING[d.state]}</span>
            </dd>
            <dt>Revision serving</dt>
            <dd>{d.revision}</dd>
            <dt>Replicas</dt>
            <dd>
              <span data-testid="replicas">
                {d.replicas.ready} ready of {d.replicas.desired} desired
              </span>
              {loading ? (
                <>
                  {' '}
                  <progress
                    max={d.replicas.desired}
                    value={d.replicas.ready}
                    aria-label="Replicas loading"
                  />{' '}
                  <span role="status">loading weights…</span>
                </>
              ) : null}
              {d.restarts ? <span class="hint"> · {d.restarts} restart(s)</span> : null}
            </dd>
            <dt>Model</dt>
            <dd>{d.spec.model}</dd>
            <dt>Accelerator</dt>
            <dd>{acceleratorText(d)}</dd>
            <dt>Scaling</dt>
            <dd>
              {d.spec.scaling.minReplicas}–{d.spec.scaling.maxReplicas} replicas on{' '}
              {d.spec.scaling.metric} (threshold {d.spec.scaling.threshold}{' '}
              {UNITS[d.spec.scaling.metric]})
              {d.spec.scaling.scaleToZero.enabled
                ? `; scale to zero after ${d.spec.scaling.scaleToZero.cooldownSeconds} s`
                : ''}
            </dd>
            <dt>Tags</dt>
            <dd>
              <Tags tags={d.spec.tags} />
            </dd>
            <dt>Temporal UI</dt>
            <dd>
              {config ? (
                <>
                  <a
                    href={temporalLink(config, deploymentWorkflowId(d.workspace, d.name))}
                    target="_blank"
                    rel="noreferrer"
                  >
                    workflow {deploymentWorkflowId(d.workspace, d.name)}
                  </a>
                  {rollouts.map((r) => (
                    <div key={r}>
                      <a
                        href={temporalLink(config, rolloutWorkflowId(d.workspace, d.name, r))}
                        target="_blank"
                        rel="noreferrer"
                      >
                        rollout to revision {r}
                      </a>
                    </div>
                  ))}
                </>
              ) : null}
            </dd>
          </dl>
        </section>
        <section class="card" aria-label="Replicas over time">
          <ReplicaChart
            samples={samples}
            history={history}
            threshold={d.spec.scaling.threshold}
            metric={d.spec.scaling.metric}
            unit={UNITS[d.spec.scaling.metric] ?? ''}
            maxReplicas={d.spec.scaling.maxReplicas}
            since={Date.parse(d.createdAt)}
            now={samples[samples.length - 1]?.at ?? Date.now()}
          />
        </section>
      </div>

      <section class="card" aria-label="Endpoint">
        <h2>Endpoint</h2>
        <p>
          <code data-testid="endpoint">{d.url}</code>
        </p>
        <pre>{curl}</pre>
        <button type="button" onClick={() => copy('curl example', curl)}>
          Copy curl example
        </button>{' '}
        {ssh ? (
          <>
            <h2>SSH</h2>
            <pre data-testid="ssh">{ssh.command}</pre>
            <p class="hint">
              Users: {ssh.users.join(', ')}. Add <code>+&lt;replica&gt;</code> to the user for one
              replica ({ssh.replicas.join(', ') || 'none ready'}).
            </p>
            <button type="button" onClick={() => copy('SSH command', ssh.command)}>
              Copy SSH command
            </button>
          </>
        ) : null}
        {copied ? (
          <p role="status" class="hint">
            Copied {copied}.
          </p>
        ) : null}
      </section>

      <section aria-label="Events">
        <h2>Events</h2>
        <table aria-label="Events">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Message</th>
              <th scope="col">Revision</th>
            </tr>
          </thead>
          <tbody>
            {[...events].reverse().map((e, i) => (
              <tr key={`${e.time}-${i}`}>
                <td>{new Date(e.time).toLocaleString()}</td>
                <td>{e.type}</td>
                <td>{e.reason}</td>
                <td>{e.message}</td>
                <td>{e.revision ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
