/** The deployments page: every deployment with its health, state and replicas; filters; actions. */
import { useState } from 'preact/hooks';
import { ApiError, type Api, type Deployment } from './api';
import { DeploymentActions } from './actions';
import { href } from './routes';
import { usePoll } from './poll';
import { HealthBadge, Notice, StateBadge, Tags } from './ui';

const HEALTHS = ['Progressing', 'Healthy', 'ProgressingWithTimeout', 'NotPresent', 'Unknown'];
const STATES = ['creating', 'running', 'paused', 'updating', 'deleting', 'failed'];

export function ListPage({ api, onUnauthorized }: { api: Api; onUnauthorized: () => void }) {
  const [items, setItems] = useState<Deployment[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tag, setTag] = useState('');
  const [tagDraft, setTagDraft] = useState('');
  const [health, setHealth] = useState('');
  const [state, setState] = useState('');
  const [tick, setTick] = useState(0);

  const query = new URLSearchParams();
  for (const t of tag
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean))
    query.append('tag', t);
  if (health) query.set('health', health);
  if (state) query.set('state', state);
  const queryText = query.toString();

  usePoll(
    async ({ live, signal }) => {
      try {
        const found = await api.deployments(new URLSearchParams(queryText), signal);
        if (!live()) return; // the filters changed meanwhile: a newer request answers
        setItems(found);
        setError(null);
      } catch (err) {
        if (!live()) return;
        if (err instanceof ApiError && err.status === 401) onUnauthorized();
        setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      }
    },
    [queryText, tick],
  );

  return (
    <>
      <div class="row" style="align-items:center;justify-content:space-between">
        <h1>Deployments</h1>
        <a class="button primary" href={href.create()}>
          Create deployment
        </a>
      </div>
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          setTag(tagDraft);
        }}
      >
        <div>
          <label for="filter-tag">Tags (key:value, comma-separated)</label>
          <input
            id="filter-tag"
            type="text"
            placeholder="env:prod"
            value={tagDraft}
            onInput={(e) => setTagDraft(e.currentTarget.value)}
            onChange={(e) => setTag(e.currentTarget.value)}
          />
        </div>
        <div>
          <label for="filter-health">Health</label>
          <select
            id="filter-health"
            value={health}
            onChange={(e) => setHealth(e.currentTarget.value)}
          >
            <option value="">any</option>
            {HEALTHS.map((h) => (
              <option value={h} key={h}>
                {h}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-state">State</label>
          <select id="filter-state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Apply filters</button>
      </form>
      <Notice error={error} />
      {items === null ? (
        <p aria-busy="true">Loading…</p>
      ) : items.length === 0 ? (
        <p class="card">
          No deployment{queryText ? ' matches these filters' : ' yet'}.{' '}
          <a href={href.create()}>Create one</a>.
        </p>
      ) : (
        <table aria-label="Deployments">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Health</th>
              <th scope="col">State</th>
              <th scope="col">Replicas ready / desired</th>
              <th scope="col">Model</th>
              <th scope="col">Accelerator</th>
              <th scope="col">Tags</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((d) => (
              <tr key={d.name} data-deployment={d.name}>
                <td>
                  <a href={href.deployment(d.name)}>{d.name}</a>
                </td>
                <td>
                  <HealthBadge health={d.health} />
                </td>
                <td>
                  <StateBadge state={d.state} />
                </td>
                <td>
                  {d.replicas.ready} / {d.replicas.desired}
                  {['creating', 'running', 'updating'].includes(d.state) &&
                  d.replicas.ready < d.replicas.desired ? (
                    <>
                      {' '}
                      <progress
                        max={d.replicas.desired}
                        value={d.replicas.ready}
                        aria-label={`${d.name}: replicas loading`}
                        style="width:4rem"
                      />
                    </>
                  ) : null}
                </td>
                <td>{d.spec.model}</td>
                <td>{acceleratorText(d)}</td>
                <td>
                  <Tags tags={d.spec.tags} />
                </td>
                <td>
                  <DeploymentActions
                    api={api}
                    deployment={d}
                    etag={`"${d.version}"`}
                    compact
                    onDone={() => setTick((t) => t + 1)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function acceleratorText(d: Deployment): string {
  const cloud = d.spec.cloud;
  return cloud.type === 'dedicated'
    ? `${cloud.accelerator.count} x ${cloud.accelerator.type}`
    : `BYOC ${cloud.cluster}/${cloud.nodeGroup} (${cloud.gpusPerReplica} GPU)`;
}
