/** Small shared pieces: labelled fields with their errors, badges, confirmations. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** A DOM id for a JSON path: "scaling.minReplicas" -> "f-scaling-minReplicas". */
export const fieldId = (path: string) => `f-${path.replace(/[^A-Za-z0-9_-]/g, '-')}`;

/**
 * A field's errors, referenced by the control's aria-describedby (not a live region: the error
 * summary at the top of the form is the one alert).
 */
export function FieldErrors({ path, errors }: { path: string; errors: string[] | undefined }) {
  if (!errors?.length) return null;
  return (
    <div class="error" id={`err-${fieldId(path)}`} data-path={path}>
      {errors.join('; ')}
    </div>
  );
}

/**
 * A labelled control with its hint and its errors; the control is `children` and must carry
 * `id={fieldId(path)}` and the aria attributes from `describe(path, errors)`.
 */
export function Field(props: {
  path: string;
  label: string;
  errors: Record<string, string[]>;
  hint?: ComponentChildren;
  children: ComponentChildren;
}) {
  const id = fieldId(props.path);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children}
      {props.hint ? (
        <div class="hint" id={`hint-${id}`}>
          {props.hint}
        </div>
      ) : null}
      <FieldErrors path={props.path} errors={props.errors[props.path]} />
    </div>
  );
}

/** aria-invalid and aria-describedby for a control at `path`. */
export function describe(path: string, errors: Record<string, string[]>, hint = false) {
  const id = fieldId(path);
  const bad = Boolean(errors[path]?.length);
  const by = [hint ? `hint-${id}` : '', bad ? `err-${id}` : ''].filter(Boolean).join(' ');
  return {
    id,
    'aria-invalid': bad ? ('true' as const) : undefined,
    ...(by ? { 'aria-describedby': by } : {}),
  };
}

export const HEALTH_MEANING: Record<string, string> = {
  Progressing: 'Replicas are coming up; the deployment is not yet ready to serve traffic.',
  Healthy: 'Live: every desired replica is ready and accepting inference requests.',
  ProgressingWithTimeout:
    'Not ready within the readiness timeout; still watching. Check the events to investigate.',
  NotPresent: 'Stopped (paused) or deleted: no replica runs.',
  Unknown: 'The runtime could not be reached; usually transient. The events say why.',
};

export const STATE_MEANING: Record<string, string> = {
  creating: 'Admission: reserving quota and bringing up the first revision.',
  running: 'Serving its revision; scaling follows the load.',
  updating: 'A rolling update: the new revision comes up, traffic switches, the old one goes.',
  paused: 'All replicas halted and quota released; the configuration is kept.',
  deleting: 'Removing every replica and releasing quota.',
  deleted: 'Gone.',
  failed: 'The create was refused (quota, placement or credentials); nothing runs.',
};

export function HealthBadge({ health }: { health: string }) {
  return (
    <span class={`badge ${health}`} title={HEALTH_MEANING[health]}>
      {health === 'ProgressingWithTimeout' ? 'Progressing with timeout' : health}
    </span>
  );
}
export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge ${state}`} title={STATE_MEANING[state]}>
      {state}
    </span>
  );
}

export function Tags({ tags }: { tags: Record<string, string> }) {
  const entries = Object.entries(tags);
  if (!entries.length) return <span class="hint">none</span>;
  return (
    <>
      {entries.map(([k, v]) => (
        <span class="tag" key={k}>
          {k}={v}
        </span>
      ))}
    </>
  );
}

/** A button that asks before it acts: the question, then Confirm / Cancel, all keyboard reachable. */
export function ConfirmButton(props: {
  label: string;
  /** The trigger's accessible name when the label alone is ambiguous (a row of a table). */
  ariaLabel?: string | undefined;
  question: ComponentChildren;
  confirmLabel?: string;
  danger?: boolean;
  disabled?: boolean;
  onConfirm: () => Promise<void> | void;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const trigger = useRef<HTMLButtonElement>(null);
  // Closing puts focus back on the trigger (when it is still there), not on <body>.
  const refocus = useRef(false);
  useEffect(() => {
    if (!open && refocus.current) {
      refocus.current = false;
      trigger.current?.focus();
    }
  }, [open]);
  const close = () => {
    refocus.current = true;
    setOpen(false);
  };
  if (!open) {
    return (
      <button
        type="button"
        ref={trigger}
        class={props.danger ? 'danger' : ''}
        disabled={props.disabled}
        aria-label={props.ariaLabel}
        onClick={() => setOpen(true)}
      >
        {props.label}
      </button>
    );
  }
  return (
    <div
      class="confirm"
      role="alertdialog"
      aria-label={`${props.ariaLabel ?? props.label}: confirm`}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && !busy) {
          e.stopPropagation();
          close();
        }
      }}
    >
      <p>{props.question}</p>
      <div class="actions">
        <button
          type="button"
          class={props.danger ? 'danger primary' : 'primary'}
          disabled={busy}
          autoFocus
          onClick={async () => {
            setBusy(true);
            try {
              await props.onConfirm();
            } finally {
              setBusy(false);
              close();
            }
          }}
        >
          {props.confirmLabel ?? `Yes, ${props.label.toLowerCase()}`}
        </button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
    </div>
  );
}

export function Notice({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <div class="notice bad" role="alert">
      {error}
    </div>
  );
}
