/**
 * What a person reads about a deployment in the Temporal UI without opening a query: the
 * workflow's static summary and details (set by the API at start), its current details
 * (Markdown, set by the workflow as things change), and the one-line summaries of the steps'
 * activities. Pure text from plain values: safe in the workflow sandbox and in the API.
 *
 * User metadata takes no part in replay's command matching: changing these words changes no
 * history a running workflow replays.
 */
import type { DeploymentEvent, DeploymentState, Health } from '../domain/deployment';
import type { DeploymentSpec } from '../domain/spec';
import type { GpuDemand } from '../quota/definitions';

/** Summaries are one line; the UI cuts long ones anyway. */
export const MAX_SUMMARY_CHARS = 300;
/** Events listed in the current details, newest first. */
export const DETAILS_EVENTS = 5;

/** One line, at most `max` characters (an ellipsis marks a cut). */
export function oneLine(text: string, max = MAX_SUMMARY_CHARS): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** "1 x L4 (dedicated)", "2 GPU(s) per replica on node group gpu-a of cluster prod (byoc)". */
export function describeCloud(spec: DeploymentSpec): string {
  const cloud = spec.cloud;
  if (cloud.type === 'dedicated') {
    return `${cloud.accelerator.count} x ${cloud.accelerator.type} (dedicated)`;
  }
  return `${cloud.gpusPerReplica} GPU(s) per replica on node group ${cloud.nodeGroup} of cluster ${cloud.cluster} (byoc)`;
}

function describeTags(tags: Record<string, string> | undefined): string {
  const entries = Object.entries(tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/**
 * The workflow's static summary (the workflow list's summary column): model, accelerator, tags.
 * E.g. "llama-3.1-8b-instruct on 1 x L4 (dedicated) · env=prod, team=search".
 */
export function staticSummaryOf(spec: DeploymentSpec): string {
  const tags = describeTags(spec.tags);
  return oneLine(`${spec.model} on ${describeCloud(spec)}${tags ? ` · ${tags}` : ''}`);
}

/** The workflow's static details (Markdown): what it is and who started it. Nothing secret. */
export function staticDetailsOf(workspace: string, name: string, spec: DeploymentSpec): string {
  const tags = describeTags(spec.tags);
  return [
    `**Deployment** \`${name}\` in workspace \`${workspace}\``,
    '',
    `- model: \`${spec.model}\``,
    `- cloud: ${describeCloud(spec)}`,
    `- replicas: ${spec.scaling.minReplicas}..${spec.scaling.maxReplicas} on ${spec.scaling.metric} (threshold ${spec.scaling.threshold})`,
    ...(tags ? [`- tags: ${tags}`] : []),
    '',
    `Created through the REST API (\`/v1/workspaces/${workspace}/deployments\`, create or clone). This is the spec at creation: edits show in the current details and the events, not here.`,
  ].join('\n');
}

/** What the current details show: plain values the entity holds. */
export interface DetailsInput {
  state: DeploymentState;
  health: Health;
  revision: number;
  activeRevision: number | null;
  desiredReplicas: number;
  readyReplicas: number;
  /** The last replica count set, with why. */
  lastScale?: { from: number; to: number; reason: string; message: string };
  /** Why the next decision is due when it is (the decision timer's summary). */
  nextDecisionWhy?: string | null;
  events: readonly DeploymentEvent[];
}

/** Markdown for `setCurrentDetails`: state, health, revision, replicas, the last decision, recent events. */
export function currentDetailsOf(input: DetailsInput): string {
  const revision =
    input.activeRevision === null
      ? `${input.revision} (nothing running)`
      : input.activeRevision === input.revision
        ? `${input.revision}`
        : `${input.revision} (running ${input.activeRevision})`;
  const lines = [
    `**${input.state}** · health **${input.health}** · revision ${revision}`,
    '',
    `- replicas: ${input.desiredReplicas} desired, ${input.readyReplicas} ready`,
  ];
  const last = input.lastScale ?? lastScaleFromEvents(input.events);
  if (last) lines.push(`- last decision: ${escape(last)}`);
  if (input.nextDecisionWhy) lines.push(`- next decision: ${escapeText(input.nextDecisionWhy)}`);
  const recent = input.events.slice(-DETAILS_EVENTS).reverse();
  if (recent.length > 0) {
    lines.push('', `**Last ${recent.length} event(s)**`, '');
    for (const e of recent)
      lines.push(`- ${e.time.slice(0, 19)}Z ${e.type} ${e.reason}: ${escapeText(e.message)}`);
  }
  return lines.join('\n');
}

function escape(last: { from?: number; to?: number; reason: string; message: string }): string {
  const counts = last.from !== undefined ? `${last.from} -> ${last.to} ` : '';
  return `${counts}${last.reason}: ${escapeText(last.message)}`;
}

/** Keeps event text from turning into Markdown structure (a message is one list item). */
function escapeText(text: string): string {
  return oneLine(text, 400).replace(/([\\`*_[\]<])/g, '\\$1');
}

/** After continue-as-new the entity has no last scale: the events log says it. */
function lastScaleFromEvents(
  events: readonly DeploymentEvent[],
): { reason: string; message: string } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.type === 'ScaleOut' || e.type === 'ScaleIn')
      return { reason: e.reason, message: e.message };
  }
  return undefined;
}

// ---- step summaries (one line each, in the event history) -----------------------------------

/**
 * The scale step's summary: "scale 1 -> 3 (<reason>): <why>" from the decision that set the count. `from`
 * is what runs (applied), `to` what is applied now; the decision's own counts may differ when two
 * decisions came before one step.
 */
export function scaleSummary(
  from: number,
  to: number,
  last: { reason: string; message: string } | undefined,
): string {
  if (!last) return oneLine(`scale ${from} -> ${to}`);
  return oneLine(`scale ${from} -> ${to} (${last.reason}): ${last.message}`);
}

export const bringUpSummary = (revision: number, replicas: number, model: string) =>
  oneLine(`bring up revision ${revision}: ${replicas} replica(s) of ${model}`);

export const routeSummary = (revision: number) => oneLine(`route traffic to revision ${revision}`);

export const haltSummary = () => 'remove replicas (paused)';

export const tearDownSummary = () => 'tear down: remove every replica (deleted)';

/** "reserve quota 4 x L4", "release quota". */
export function quotaSummary(gpus: GpuDemand): string {
  const parts = Object.entries(gpus).map(([key, n]) => `${n} x ${key}`);
  return parts.length > 0 ? oneLine(`reserve quota ${parts.join(', ')}`) : 'release quota';
}
