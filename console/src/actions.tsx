/** Pause / resume / edit / clone / delete, each asking before it acts. */
import { useState } from 'preact/hooks';
import { ApiError, type Api, type Deployment } from './api';
import { href } from './routes';
import { ConfirmButton, Notice } from './ui';

export function DeploymentActions(props: {
  api: Api;
  deployment: Deployment;
  /** The ETag the page read, sent as If-Match (null: apply to whatever version is current). */
  etag: string | null;
  compact?: boolean;
  onDone: () => void;
}) {
  const { api, deployment: d } = props;
  const [error, setError] = useState<string | null>(null);
  const run = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      props.onDone();
    } catch (err) {
      setError(
        err instanceof ApiError
          ? `${err.status} ${err.code}: ${err.message}${
              err.status === 412 ? ' (it changed meanwhile: the page now shows the latest)' : ''
            }`
          : String(err),
      );
      props.onDone();
    }
  };
  const gone = d.state === 'deleting' || d.state === 'deleted';
  // In a table row "Pause" alone does not say which deployment; the name does.
  const named = (label: string) => (props.compact ? `${label} ${d.name}` : undefined);
  return (
    <div>
      <div class="actions">
        {!gone ? (
          <a
            class="button"
            href={href.edit(d.name)}
            aria-label={props.compact ? `Edit ${d.name}` : undefined}
          >
            Edit
          </a>
        ) : null}
        {d.state === 'paused' ? (
          <ConfirmButton
            label="Resume"
            ariaLabel={named('Resume')}
            question={`Resume ${d.name}? Its quota is reserved again and replicas come back.`}
            onConfirm={() => run(() => api.action(d.name, 'resume', props.etag))}
          />
        ) : (
          <ConfirmButton
            label="Pause"
            ariaLabel={named('Pause')}
            disabled={gone || d.state === 'failed'}
            question={`Pause ${d.name}? Every replica stops and its quota is released; the configuration is kept.`}
            onConfirm={() => run(() => api.action(d.name, 'pause', props.etag))}
          />
        )}
        {d.state !== 'deleted' ? (
          // The create form, filled from this spec under a new name, to review before it deploys.
          <a class="button" href={href.clone(d.name)} aria-label={named('Clone')}>
            Clone
          </a>
        ) : null}
        <ConfirmButton
          label="Delete"
          ariaLabel={named('Delete')}
          danger
          disabled={gone}
          question={`Delete ${d.name}? Every replica is removed and its quota released. This cannot be undone.`}
          onConfirm={() => run(() => api.action(d.name, 'delete', props.etag))}
        />
      </div>
      <Notice error={error} />
    </div>
  );
}
