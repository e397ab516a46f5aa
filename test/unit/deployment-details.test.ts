/**
 * What the Temporal UI shows about a deployment (workflows/deployment/details.ts): the static
 * summary and details the API sets at start, the current details' Markdown the workflow sets as
 * things change, and the one-line summaries of the steps' activities.
 */
import { describe, expect, it } from 'vitest';
import {
  DETAILS_EVENTS,
  MAX_SUMMARY_CHARS,
  currentDetailsOf,
  quotaSummary,
  scaleSummary,
  staticDetailsOf,
  staticSummaryOf,
  type DetailsInput,
} from '../../workflows/deployment/details';
import type { DeploymentEvent } from '../../workflows/domain/deployment';
import { describeViolations, validateSpec, type DeploymentSpec } from '../../workflows/domain/spec';

function spec(fields: Record<string, unknown> = {}): DeploymentSpec {
  const result = validateSpec({
    model: 'llama-3.1-8b-instruct',
    cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
    scaling: { minReplicas: 1, maxReplicas: 4, metric: 'concurrency', threshold: 8 },
    ...fields,
  });
  if (!result.ok) throw new Error(describeViolations(result.violations));
  return result.value;
}

const event = (i: number, fields: Partial<DeploymentEvent> = {}): DeploymentEvent => ({
  time: `2026-01-01T12:00:0${i}.000Z`,
  type: 'Lifecycle',
  reason: `Reason${i}`,
  message: `message ${i}`,
  ...fields,
});

describe('static summary and details', () => {
  it('names the model, the accelerator and the tags (sorted) on one line', () => {
    expect(staticSummaryOf(spec({ tags: { team: 'search', env: 'prod' } }))).toBe(
      'llama-3.1-8b-instruct on 1 x L4 (dedicated) · env=prod, team=search',
    );
    expect(staticSummaryOf(spec())).toBe('llama-3.1-8b-instruct on 1 x L4 (dedicated)');
  });

  it('describes a BYOC deployment by its node group and cluster', () => {
    const byoc = spec({
      cloud: {
        type: 'byoc',
        cluster: 'team-eks',
        nodeGroup: 'gpu-h100',
        gpusPerReplica: 8,
        resources: { cpuRequest: '8', cpuLimit: '16', memoryRequest: '64Gi', memoryLimit: '128Gi' },
      },
    });
    expect(staticSummaryOf(byoc)).toBe(
      'llama-3.1-8b-instruct on 8 GPU(s) per replica on node group gpu-h100 of cluster team-eks (byoc)',
    );
  });

  it('details say where it lives and what was asked, in Markdown, without secrets', () => {
    const details = staticDetailsOf('default', 'llama-prod', spec({ tags: { env: 'prod' } }));
    expect(details).toContain('**Deployment** `llama-prod` in workspace `default`');
    expect(details).toContain('- model: `llama-3.1-8b-instruct`');
    expect(details).toContain('- replicas: 1..4 on concurrency (threshold 8)');
    expect(details).toContain('- tags: env=prod');
    expect(details).toContain('REST API');
    expect(details).not.toMatch(/key|token|bearer/i);
  });
});

describe('current details', () => {
  const base: DetailsInput = {
    state: 'running',
    health: 'Healthy',
    revision: 2,
    activeRevision: 2,
    desiredReplicas: 3,
    readyReplicas: 1,
    events: [],
  };

  it('shows state, health, revision and replicas', () => {
    expect(currentDetailsOf(base)).toBe(
      '**running** · health **Healthy** · revision 2\n\n- replicas: 3 desired, 1 ready',
    );
  });

  it('says when the revision asked for is not the one running, or nothing runs', () => {
    expect(currentDetailsOf({ ...base, revision: 3 })).toContain('revision 3 (running 2)');
    expect(currentDetailsOf({ ...base, activeRevision: null })).toContain(
      'revision 2 (nothing running)',
    );
  });

  it('shows the last decision with its counts, and what the next one waits for', () => {
    const text = currentDetailsOf({
      ...base,
      lastScale: {
        from: 1,
        to: 3,
        reason: 'DesiredWithinRange',
        message: 'concurrency 24 in flight',
      },
      nextDecisionWhy: 'stabilization window ends 12:04:10 UTC, then scale in to 2',
    });
    expect(text).toContain('- last decision: 1 -> 3 DesiredWithinRange: concurrency 24 in flight');
    expect(text).toContain(
      '- next decision: stabilization window ends 12:04:10 UTC, then scale in to 2',
    );
  });

  it('after continue-as-new, takes the last decision from the events log', () => {
    const text = currentDetailsOf({
      ...base,
      events: [
        event(1, { type: 'ScaleOut', reason: 'ScaleUpLimit', message: 'replicas 1 -> 3: load' }),
        event(2),
      ],
    });
    expect(text).toContain('- last decision: ScaleUpLimit: replicas 1 -> 3: load');
  });

  it('lists the last events, newest first, at most DETAILS_EVENTS', () => {
    const events = Array.from({ length: 8 }, (_, i) => event(i));
    const text = currentDetailsOf({ ...base, events });
    expect(text).toContain(`**Last ${DETAILS_EVENTS} event(s)**`);
    const listed = text.split('\n').filter((l) => l.startsWith('- 2026'));
    expect(listed).toEqual([
      '- 2026-01-01T12:00:07Z Lifecycle Reason7: message 7',
      '- 2026-01-01T12:00:06Z Lifecycle Reason6: message 6',
      '- 2026-01-01T12:00:05Z Lifecycle Reason5: message 5',
      '- 2026-01-01T12:00:04Z Lifecycle Reason4: message 4',
      '- 2026-01-01T12:00:03Z Lifecycle Reason3: message 3',
    ]);
  });

  it('keeps an event message on its line and out of Markdown structure', () => {
    const text = currentDetailsOf({
      ...base,
      events: [event(1, { message: 'first line\n# not a heading *bold* `code`' })],
    });
    expect(text).toContain('Reason1: first line # not a heading \\*bold\\* \\`code\\`');
    expect(text.split('\n').filter((l) => l.startsWith('#'))).toEqual([]);
  });
});

describe('step summaries', () => {
  it('a scale step says the counts, the reason and the decision’s message', () => {
    expect(
      scaleSummary(1, 3, {
        reason: 'ScaleUpLimit',
        message: 'concurrency 24 in flight per replica (threshold 8); limited to 3 by Pods policy',
      }),
    ).toBe(
      'scale 1 -> 3 (ScaleUpLimit): concurrency 24 in flight per replica (threshold 8); limited to 3 by Pods policy',
    );
    expect(scaleSummary(2, 0, undefined)).toBe('scale 2 -> 0');
  });

  it('a long reason is cut to one line of MAX_SUMMARY_CHARS', () => {
    const text = scaleSummary(1, 2, { reason: 'R', message: `a\nb ${'x'.repeat(500)}` });
    expect(text).toHaveLength(MAX_SUMMARY_CHARS);
    expect(text).not.toContain('\n');
    expect(text.endsWith('…')).toBe(true);
  });

  it('quota: what is reserved, or released', () => {
    expect(quotaSummary({ L4: 4 })).toBe('reserve quota 4 x L4');
    expect(quotaSummary({})).toBe('release quota');
  });
});
