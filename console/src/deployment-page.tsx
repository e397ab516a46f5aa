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
  type Model,
  type SshAccess,
} from './api';
import { describeWindow } from '../../workflows/schedule/describe';
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
/**
 * Samples per deployment (keyed `${workspace}/${name}`), kept while the tab is open (leaving the
 * page and coming back keeps them); samples older than the deployment's creation (a deployment
 * of the same name deleted before) are dropped.
 */
const SAMPLES = new Map<string, Sample[]>();

/** States in which replicas that are not ready yet are loading their weights. */
const LOADING_STATES = new Set(['creating', 'running', 'updating']);

/** An example request for the deployment's model kind (OpenAI-style routes of the model server). */
function curlExample(url: string, kind: string | undefined): string {
  const auth = `-H "Authorization: Bearer $KEY"`;
  if (kind === 'embedding') {
    return `curl -s ${url}/v1/embeddings \\\n  ${auth} -H 'content-type: application/json' \\\n  -d '{"input": "Hello"}'`;
  }
  if (kind === 'speech') {
    return `curl -s ${url}/v1/audio/transcriptions \\\n  ${auth} \\\n  -F file=@audio.wav`;
  }
  return `curl -s ${url}/v1/completions \\\n  ${auth} -H 'content-type: application/json' \\\n  -d '{"prompt": "Hello", "max_tokens": 16}'`;
}

export function DeploymentPage({
  api,
  name,
  onUnauthorized,
}: {
  api: Api;
  name: string;
  onUnauthorized: () => void;
}) {
  const sampleKey = `${api.session.workspace}/${name}`;
  const [d, setD] = useState<Deployment | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [events, setEvents] = useState<DeploymentEvent[]>([]);
  const [samples, setSamples] = useState<Sample[]>(() => SAMPLES.get(sampleKey) ?? []);
  const [models, setModels] = useState<Model[]>([]);
  const [ssh, setSsh] = useState<SshAccess | null>(null);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const [copied, setCopied] = useState<string | null>(null);

  useEffect(() => void consoleConfig().then(setConfig), []);
  useEffect(() => void api.models().then(setModels, () => setModels([])), []);

  usePoll(
    async ({ live, signal }) => {
      if (gone) return;
      // The sample's time is when the request left: the view it brings is at least that fresh,
      // never older (stamping it on arrival could place a pre-Health reading after the event).
      const at = Date.now();
      try {
        const [{ body, etag: tag }, evs] = await Promise.all([
          api.deployment(name, signal),
          api.events(name, signal),
        ]);
        const access = body.spec.ssh?.enabled ? await api.ssh(name, signal) : null;
        if (!live()) return; // a newer poll (or an action's refresh) answers instead
        setD(body);
        setEtag(tag);
        setEvents(evs);
        setError(null);
        const created = Date.parse(body.createdAt);
        const next = [
          ...(SAMPLES.get(sampleKey) ?? []).filter((x) => !(x.at < created)),
          { at, desired: body.replicas.desired, ready: body.replicas.ready },
        ].slice(-MAX_SAMPLES);
        SAMPLES.set(sampleKey, next);
        setSamples(next);
        setSsh(access);
      } catch (err) {
        if (!live()) return;
        if (err instanceof ApiError && err.status === 401) {
          onUnauthorized();
          return;
        }
        if (err instanceof ApiError && err.status === 404) {
          setGone(true);
          return;
        }
        setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      }
    },
    [name, tick, gone],
  );

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

  const loading = LOADING_STATES.has(d.state) && d.replicas.ready < d.replicas.desired;
  const kind = models.find((m) => m.id === d.spec.model)?.kind;
  const curl = curlExample(d.url, kind);
  const updating = d.state === 'updating';
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
            <dt>Revision</dt>
            <dd data-testid="revision">
              {updating ? (
                <>
                  revision {d.revision} rolling out; the previous revision still serves until it is
                  ready
                  {config ? (
                    <>
                      {' '}
                      (
                      <a
                        href={temporalLink(
                          config,
                          rolloutWorkflowId(d.workspace, d.name, d.revision),
                        )}
                        target="_blank"
                        rel="noreferrer"
                      >
                        follow the rollout
                      </a>
                      )
                    </>
                  ) : null}
                </>
              ) : (
                <>{d.revision} (serving)</>
              )}
            </dd>
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
        <p class="hint">
          <code>$KEY</code> is an API key of workspace {d.workspace} (the one you signed in with
          works): set it first, e.g. <code>KEY=…</code>. The example fits the model's kind (
          {kind ?? 'llm'}); the endpoint passes the path on to the model server.
        </p>
        <button type="button" onClick={() => copy('curl example', curl)}>
          Copy curl example
        </button>{' '}
        {ssh ? (
          <>
            <h2>SSH</h2>
            <pre data-testid="ssh">{ssh.command}</pre>
            <p class="hint">
              Users: {ssh.users.join(', ')}. Add <code>-i &lt;private key&gt;</code> (the private
              half of the user's key secret) to the command, and <code>+&lt;replica&gt;</code> to
              the user for one replica ({ssh.replicas.join(', ') || 'none ready'}).
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

      <Configuration d={d} />

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

/** What the deployment is configured to do, beyond the status facts above. */
function Configuration({ d }: { d: Deployment }) {
  const { spec } = d;
  const policy = spec.autoscalingPolicy;
  const rules = (what: string, r: NonNullable<typeof policy>['scaleUp']) =>
    `${what}: stabilization ${r.stabilizationWindowSeconds} s, select ${r.selectPolicy}${
      r.policies.length
        ? `; ${r.policies
            .map(
              (p) =>
                `${p.value}${p.type === 'Percent' ? ' %' : ' pod(s)'} per ${p.periodSeconds} s`,
            )
            .join(', ')}`
        : ''
    }`;
  return (
    <section class="card" aria-label="Configuration">
      <h2>Configuration</h2>
      <dl class="facts">
        <dt>Schedule</dt>
        <dd>
          {spec.schedule?.enabled ? (
            <>
              {spec.schedule.scaleToZeroOutsideWindows
                ? 'scale to 0 outside windows'
                : 'min/max replicas outside windows'}
              <ul>
                {spec.schedule.windows.map((w, i) => (
                  <li key={i}>
                    {describeWindow(w)}: at least {w.minPods} pod(s)
                  </li>
                ))}
              </ul>
            </>
          ) : (
            'off'
          )}
        </dd>
        <dt>Autoscaling policy</dt>
        <dd>
          {policy ? (
            <>
              {rules('scale up', policy.scaleUp)}
              <br />
              {rules('scale down', policy.scaleDown)}
            </>
          ) : (
            'none (standard min/max scaling, no rate limit)'
          )}
        </dd>
        <dt>Rapid autoscaling</dt>
        <dd>{spec.scaling.rapidAutoscaling ? 'on' : 'off'}</dd>
        <dt>SSH</dt>
        <dd>
          {spec.ssh?.enabled
            ? `${spec.ssh.runtime} runtime; users ${spec.ssh.users.map((u) => u.username).join(', ') || 'none'}`
            : 'off'}
        </dd>
        <dt>Readiness timeout</dt>
        <dd>{spec.readinessTimeoutSeconds} s</dd>
      </dl>
    </section>
  );
}
