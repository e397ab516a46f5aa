/**
 * Randomized message sequences against the real deployment workflow (used by
 * test/workflow/message-sequences.test.ts and test/time-skipping/message-sequences.test.ts): create, edits (in place and
 * rolling), pause, resume, delete, clone, metric observations (traffic, idle, a request waiting
 * at zero) and time passing (timers expiring: cooldowns, stabilization windows), in seeded random
 * orders, some sent back to back without waiting. After each sequence:
 *
 * - every workflow task completed (none failed: no spin, no bug, no nondeterminism);
 * - the run is not stuck: it settles (nothing loading, no rollout, replicas applied);
 * - the final state is what the accepted messages imply (a write refused is refused for the
 *   reason the state gives), and the spec holds every accepted edit;
 * - replicas match: the provider runs exactly the active revision with the count the
 *   deployment says, inside its bounds; a paused or deleted one runs nothing.
 *
 * The same sequences run on two servers: the dev server (the real server; time passes for real,
 * a sleep is cut to 1.5 s) and the Java time-skipping test server (hours pass in a sleep, so
 * long timers expire), 200 each. On the time-skipping server they run one at a time: its clock
 * is shared by every workflow and skips only while no activity is in flight anywhere (200 take
 * about 80 s); its quirks are handled in the test double (see watch-interceptor.ts).
 *
 * SEQUENCES (dev server, default 200), TIME_SKIPPING_SEQUENCES (default 200) and SEQUENCE_SEED
 * (default: random, printed) repeat a run; a failure names its seed and its steps:
 * `SEQUENCE_SEED=<seed> SEQUENCES=1 TIME_SKIPPING_SEQUENCES=1 npx vitest run <this file>`.
 */
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { expect } from 'vitest';
import {
  deleteUpdate,
  deploymentWorkflowId,
  patchUpdate,
  pauseUpdate,
  resumeUpdate,
  statusQuery,
  type DeploymentEnding,
} from '../../workflows/deployment/definitions';
import type { deploymentWorkflow } from '../../workflows/deployment/workflow';
import { observeMetricsSignal } from '../../workflows/deployment/metrics';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { applyMergePatch } from '../../workflows/domain/merge-patch';
import { validateSpec, type DeploymentSpec } from '../../workflows/domain/spec';
import { dedicatedSpec } from './catalog';
import { FakeProvider } from './fake-provider';
import { failedWorkflowTasks } from './history';
import { observation } from './observations';

/** On the dev server: many sequences, time passing for real (sleeps cut to a second or two). */
export const SEQUENCES = Number(process.env.SEQUENCES ?? 200);
/** On the time-skipping server: as many, one at a time, hours passing. */
export const TIME_SKIPPING_SEQUENCES = Number(process.env.TIME_SKIPPING_SEQUENCES ?? 200);
const SEED = Number(process.env.SEQUENCE_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Sequences run this many at a time (each on its own deployments). */
const CONCURRENCY = Number(process.env.SEQUENCE_CONCURRENCY ?? 4);
const STEPS = { min: 3, max: 8 };
/** Real time one sequence may take before it counts as stuck. */
const SEQUENCE_TIMEOUT_MS = 180_000;
export const ws = 'seq';

/** Where sequences run: the server, its clock, and the provider the worker's activities use. */
export interface SequenceEnv {
  client: Client;
  provider: FakeProvider;
  gate: TimeGate;
  startDeployment(
    name: string,
    spec: Record<string, unknown>,
  ): Promise<WorkflowHandle<typeof deploymentWorkflow>>;
  /** Lets this much time pass (the time-skipping server: skipped; the dev server: up to 1.5 s). */
  sleep(ms: number): Promise<void>;
  now(): Promise<number>;
}
let env: SequenceEnv;

/**
 * Time skips alone: a sleep (which lets the test server skip time) waits until no message is
 * being sent, and messages wait while it skips. Overlapping them makes the Java test server's
 * clock run away (seen: a 60 s sleep moved it 10 years, timing out every workflow).
 */
export class TimeGate {
  /** `serialize`: a clock that skips (time-skipping server); otherwise the gate only bounds waits. */
  constructor(private readonly serialize: boolean) {}
  private sending = 0;
  private skipping: Promise<void> | undefined;
  private idle: (() => void)[] = [];

  /** A message (and what it waits for) holds back the clock at most this long. */
  static readonly SEND_TIMEOUT_MS = 75_000;

  async send<T>(fn: () => Promise<T>): Promise<T> {
    while (this.serialize && this.skipping) await this.skipping;
    this.sending += 1;
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`stuck: no answer within ${TimeGate.SEND_TIMEOUT_MS / 1000} s`)),
          TimeGate.SEND_TIMEOUT_MS,
        );
      });
      return await Promise.race([fn(), late]);
    } finally {
      clearTimeout(timer);
      this.sending -= 1;
      if (this.sending === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  async skip(fn: () => Promise<void>): Promise<void> {
    if (!this.serialize) return fn();
    while (this.skipping) await this.skipping;
    let done!: () => void;
    this.skipping = new Promise<void>((resolve) => (done = resolve));
    try {
      if (this.sending > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
      await fn();
    } finally {
      this.skipping = undefined;
      done();
    }
  }
}

/** mulberry32: a small seeded PRNG, so a seed replays the same sequence. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op =
  | { kind: 'editScaling'; min: number; max: number }
  | { kind: 'editTags'; key: string; value: string }
  | { kind: 'editModel' }
  | { kind: 'editScaleToZero'; cooldownSeconds: number }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'delete' }
  | { kind: 'clone' }
  | { kind: 'load'; perReplica: number }
  | { kind: 'idle'; quietSeconds: number }
  | { kind: 'wake' }
  | { kind: 'sleep'; ms: number }
  /** The next two operations are sent at once, without waiting for the first to be answered. */
  | { kind: 'together' };

function generate(rand: () => number): Op[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const count = STEPS.min + Math.floor(rand() * (STEPS.max - STEPS.min + 1));
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const kind = pick([
      'editScaling',
      'editTags',
      'editModel',
      'editScaleToZero',
      'pause',
      'pause',
      'resume',
      'resume',
      'clone',
      'load',
      'load',
      'idle',
      'wake',
      'sleep',
      'together',
      'delete',
    ] as const);
    switch (kind) {
      case 'editScaling': {
        const min = 1 + Math.floor(rand() * 2);
        ops.push({ kind, min, max: min + Math.floor(rand() * 3) });
        break;
      }
      case 'editTags':
        ops.push({ kind, key: pick(['a', 'b', 'c']), value: String(Math.floor(rand() * 100)) });
        break;
      case 'editScaleToZero':
        ops.push({ kind, cooldownSeconds: pick([10, 30, 120]) });
        break;
      case 'load':
        ops.push({ kind, perReplica: pick([0, 4, 12, 30]) });
        break;
      case 'idle':
        ops.push({ kind, quietSeconds: pick([5, 60, 600]) });
        break;
      case 'sleep':
        ops.push({ kind, ms: pick([500, 5_000, 60_000, 10 * 60_000, 2 * 60 * 60_000]) });
        break;
      default:
        ops.push({ kind });
    }
  }
  // A delete ends most sequences; the others end where they are.
  if (rand() < 0.5) ops.push({ kind: 'delete' });
  return ops;
}

/** What the accepted messages imply. */
interface Model {
  /** creating: admitted and starting; only a delete is allowed until it runs. */
  state: 'creating' | 'running' | 'paused' | 'deleted';
  spec: DeploymentSpec;
  /** A rolling update may still be in progress (then an edit or pause may be refused). */
  mayBeUpdating: boolean;
}

type Outcome = 'accepted' | 'conflict' | 'precondition_failed' | 'gone';

function outcomeOf(err: unknown): Outcome {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    if (err.cause.type === 'conflict') return 'conflict';
    if (err.cause.type === 'precondition_failed') return 'precondition_failed';
  }
  const text = String((err as Error)?.message ?? err);
  if (/workflow execution already completed|not found/i.test(text)) return 'gone';
  throw err;
}

class Sequence {
  readonly log: string[] = [];
  private readonly clones: WorkflowHandle<typeof deploymentWorkflow>[] = [];
  private clonesNamed = 0;
  private handle!: WorkflowHandle<typeof deploymentWorkflow>;
  private model!: Model;
  /** The merge patch each edit sent (made from the spec it read just before). */
  private readonly patches = new Map<Op, Record<string, unknown>>();

  constructor(
    readonly seed: number,
    private readonly name: string,
  ) {}

  get workflowId(): string {
    return deploymentWorkflowId(ws, this.name);
  }

  /** Every workflow of this sequence (the deployment and its clones), for a failure report. */
  get workflowIds(): string[] {
    return [this.workflowId, ...this.clones.map((c) => c.workflowId)];
  }

  private stepStarted = Date.now();
  private step(line: string): void {
    if (process.env.SEQUENCE_DEBUG && this.log.length > 0)
      console.log(`${this.name}: ${this.log.at(-1)} took ${Date.now() - this.stepStarted} ms`);
    this.stepStarted = Date.now();
    this.log.push(line);
    if (process.env.SEQUENCE_DEBUG) console.log(`${this.name}: ${line} starts`);
  }

  async run(ops: Op[]): Promise<void> {
    const spec = dedicatedSpec({
      scaling: { minReplicas: 1, maxReplicas: 3, metric: 'concurrency', threshold: 8 },
      // a rollout cancelled by a delete waits (here, where activities are not cancelled) for its
      // readiness wait to end
      readinessTimeoutSeconds: 10,
    });
    this.handle = await env.gate.send(() => env.startDeployment(this.name, spec));
    this.model = { state: 'creating', spec: parse(spec), mayBeUpdating: false };
    this.step('create');
    for (let i = 0; i < ops.length && this.model.state !== 'deleted'; i++) {
      const op = ops[i]!;
      if (op.kind === 'together' && i + 2 < ops.length) {
        const [a, b] = [ops[i + 1]!, ops[i + 2]!];
        this.step(`together(${describeOp(a)}, ${describeOp(b)})`);
        await this.together(a, b);
        i += 2;
        continue;
      }
      if (op.kind === 'together') continue;
      this.step(describeOp(op));
      await this.apply(op);
    }
    if (this.model.state !== 'deleted') this.step('(end)');
    await env.gate.send(() => this.refresh());
    await env.gate.send(() => this.check());
  }

  /** Two operations sent at once: each outcome must be possible in some order of the two. */
  private async together(a: Op, b: Op): Promise<void> {
    await env.gate.send(() => this.refresh());
    const before = structuredClone(this.model);
    const sent = (op: Op) =>
      op.kind === 'sleep' ? this.send(op) : env.gate.send(() => this.send(op));
    const [ra, rb] = await Promise.all([sent(a), sent(b)]);
    // Either order: replay a-then-b and b-then-a on the model; one must explain both outcomes
    // (and, when both edited the spec, give the spec the workflow holds).
    const actual = await env.gate.send(() =>
      this.handle
        .query(statusQuery)
        .then((v) => v.spec)
        .catch(() => undefined),
    );
    const orders: [Op, Outcome | undefined, Op, Outcome | undefined][] = [
      [a, ra, b, rb],
      [b, rb, a, ra],
    ];
    const explains = orders.flatMap(([x, rx, y, ry]) => {
      this.model = structuredClone(before);
      if (!this.expect(x, rx)) return [];
      // y's patch was checked against the catalog with the model before x; once x changed the
      // model, the workflow refuses y as edited meanwhile (409, "read it again"), by design.
      const editedMeanwhile =
        x.kind === 'editModel' && rx === 'accepted' && isEdit(y) && ry === 'conflict';
      return editedMeanwhile || this.expect(y, ry) ? [structuredClone(this.model)] : [];
    });
    const model =
      explains.find(
        (m) => actual === undefined || m.state === 'deleted' || equal(m.spec, actual),
      ) ?? explains[0];
    if (!model) {
      throw new Error(
        `outcomes ${ra}, ${rb} of ${describeOp(a)} and ${describeOp(b)} fit no order (from ${before.state})`,
      );
    }
    this.model = model;
  }

  /** A rollout the model allowed for has ended once the workflow says it is not updating. */
  private async refresh(): Promise<void> {
    if (!this.model.mayBeUpdating && this.model.state !== 'creating') return;
    const view = await this.handle.query(statusQuery).catch(() => undefined);
    if (view && view.state !== 'updating') this.model.mayBeUpdating = false;
    if (view && view.state !== 'creating' && this.model.state === 'creating')
      this.model.state = 'running';
  }

  private async apply(op: Op): Promise<void> {
    await this.refresh();
    const outcome =
      op.kind === 'sleep' ? await this.send(op) : await env.gate.send(() => this.send(op));
    if (!this.expect(op, outcome)) {
      throw new Error(
        `${describeOp(op)} was ${outcome}; in state ${this.model.state} it must not be`,
      );
    }
  }

  /**
   * Whether a write's outcome fits the model (and then applies it). Signals and sleeps always
   * fit. A refusal for a rollout in progress fits only while one may be.
   */
  private expect(op: Op, outcome: Outcome | undefined): boolean {
    const m = this.model;
    // Starting may have ended between the last look and this write.
    if (m.state === 'creating' && outcome === 'accepted' && op.kind !== 'delete')
      m.state = 'running';
    const allowed = (states: Model['state'][]) => states.includes(m.state);
    const refusedForRollout = outcome === 'conflict' && m.mayBeUpdating && m.state === 'running';
    switch (op.kind) {
      case 'editScaling':
      case 'editTags':
      case 'editModel':
      case 'editScaleToZero': {
        if (outcome === 'accepted' && allowed(['running', 'paused'])) {
          m.spec = parse(applyMergePatch(m.spec, this.patches.get(op)));
          if (op.kind === 'editModel' && m.state === 'running') m.mayBeUpdating = true;
          return true;
        }
        return (outcome === 'conflict' && !allowed(['running', 'paused'])) || refusedForRollout;
      }
      case 'pause':
        if (outcome === 'accepted' && m.state === 'running') {
          m.state = 'paused';
          return true;
        }
        return (outcome === 'conflict' && m.state !== 'running') || refusedForRollout;
      case 'resume':
        if (outcome === 'accepted' && m.state === 'paused') {
          m.state = 'running';
          return true;
        }
        return outcome === 'conflict' && m.state !== 'paused';
      case 'delete':
        if (outcome === 'accepted' && m.state !== 'deleted') {
          m.state = 'deleted';
          return true;
        }
        return (outcome === 'conflict' || outcome === 'gone') && m.state === 'deleted';
      default:
        return true;
    }
  }

  /** Sends one operation; for writes, resolves with how it was answered. */
  private async send(op: Op): Promise<Outcome | undefined> {
    const write = async (fn: () => Promise<unknown>): Promise<Outcome> => {
      try {
        await fn();
        return 'accepted';
      } catch (err) {
        return outcomeOf(err);
      }
    };
    const signal = async (o: Parameters<typeof observation>) => {
      await this.handle.signal(observeMetricsSignal, observation(...o)).catch((err) => {
        if (outcomeOf(err) !== 'gone') throw err;
      });
      return undefined;
    };
    const now = new Date(await env.now());
    switch (op.kind) {
      case 'editScaling':
      case 'editTags':
      case 'editModel':
      case 'editScaleToZero':
        return write(async () => {
          const view = await this.handle.query(statusQuery);
          const patch = patchOf(op, view.spec);
          this.patches.set(op, patch);
          const checked = parse(applyMergePatch(view.spec, patch));
          await this.handle.executeUpdate(patchUpdate, {
            args: [{ patch: { spec: patch }, checked }],
          });
        });
      case 'pause':
        return write(() => this.handle.executeUpdate(pauseUpdate, { args: [{}] }));
      case 'resume':
        return write(() => this.handle.executeUpdate(resumeUpdate, { args: [{}] }));
      case 'delete':
        return write(() => this.handle.executeUpdate(deleteUpdate, { args: [{}] }));
      case 'clone': {
        // Named before any await: two clones sent together must not pick the same name.
        const cloneName = `${this.name}-c${this.clonesNamed++}`;
        const debug = (m: string) =>
          process.env.SEQUENCE_DEBUG && console.log(`${this.name}: clone ${m}`);
        debug('query');
        const view = await this.handle.query(statusQuery).catch(() => undefined);
        debug('queried');
        if (!view) return undefined;
        const clone = await env.startDeployment(cloneName, view.spec);
        debug('started');
        this.clones.push(clone);
        return undefined;
      }
      case 'load': {
        const view = await this.handle.query(statusQuery).catch(() => undefined);
        const replicas = Math.max(1, view?.replicas.desired ?? 1);
        return signal([
          Array<number>(replicas).fill(op.perReplica),
          { time: now.toISOString(), lastRequestAt: now.toISOString() },
        ]);
      }
      case 'idle':
        return signal([
          [0],
          {
            time: now.toISOString(),
            lastRequestAt: new Date(now.getTime() - op.quietSeconds * 1000).toISOString(),
            shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
          },
        ]);
      case 'wake':
        return signal([
          [],
          {
            time: now.toISOString(),
            queued: 1,
            shortWindow: { seconds: 6, concurrency: 0, throughput: 0 },
          },
        ]);
      case 'sleep':
        await env.gate.skip(async () => {
          const before = await env.now();
          await env.sleep(op.ms);
          if (process.env.SEQUENCE_DEBUG)
            console.log(`slept ${op.ms}: clock moved ${(await env.now()) - before} ms`);
        });
        return undefined;
      case 'together':
        return undefined;
    }
  }

  /** The final checks: settled, state and spec as implied, replicas matching, no failed task. */
  private async check(): Promise<void> {
    const id = `${ws}/${this.name}`;
    if (this.model.state === 'deleted') {
      const ending = await ended(this.handle);
      expect(ending.view.state).toBe('deleted');
      expect(env.provider.revisionsOf(id)).toEqual([]);
    } else {
      const view = await settled(this.handle);
      // still starting when last looked at: by now it runs
      expect(view.state).toBe(this.model.state === 'creating' ? 'running' : this.model.state);
      expect(view.spec).toEqual(this.model.spec);
      const revisions = env.provider.revisionsOf(id);
      if (this.model.state === 'paused') {
        expect(view.health).toBe('NotPresent');
        expect(revisions).toEqual([]);
      } else {
        expect(view.health).toBe('Healthy');
        expect(revisions).toEqual([view.revision]);
        const runs = env.provider.revisions.get(`${id}#${view.revision}`)!;
        expect(runs.replicas.length).toBe(view.replicas.desired);
        expect(view.replicas.ready).toBe(view.replicas.desired);
        const { minReplicas, maxReplicas, scaleToZero } = view.spec.scaling;
        expect(view.replicas.desired).toBeLessThanOrEqual(maxReplicas);
        expect(view.replicas.desired).toBeGreaterThanOrEqual(scaleToZero.enabled ? 0 : minReplicas);
      }
    }
    const failed = await failedWorkflowTasks(env.client, this.handle.workflowId);
    expect(failed, `failed workflow tasks: ${failed.join('; ')}`).toEqual([]);
    // Checked; now gone, so the deployments of later sequences are not slowed by this one's timers.
    if (this.model.state !== 'deleted') {
      await this.handle.executeUpdate(deleteUpdate, { args: [{}] });
      expect((await ended(this.handle)).view.state).toBe('deleted');
    }
    for (const clone of this.clones) {
      const view = await settled(clone);
      expect(['running', 'paused']).toContain(view.state);
      await clone.executeUpdate(deleteUpdate, { args: [{}] });
      expect((await ended(clone)).view.state).toBe('deleted');
      const cloneFailed = await failedWorkflowTasks(env.client, clone.workflowId);
      expect(cloneFailed, `failed workflow tasks of a clone: ${cloneFailed.join('; ')}`).toEqual(
        [],
      );
      expect(env.provider.revisionsOf(`${ws}/${view.name}`)).toEqual([]);
    }
  }
}

/**
 * The workflow's ending, once it has ended (bounded, in real time). Not by awaiting its result,
 * which lets the test server skip time until it ends: a workflow that never ends would run the
 * clock to every workflow's execution timeout.
 */
async function ended(handle: WorkflowHandle<typeof deploymentWorkflow>): Promise<DeploymentEnding> {
  const until = Date.now() + 60_000;
  while ((await handle.describe()).status.name === 'RUNNING') {
    if (Date.now() > until) throw new Error('stuck: the deleted deployment never ended');
    await new Promise((r) => setTimeout(r, 50));
  }
  return (await handle.result()) as DeploymentEnding;
}

/** Waits (bounded, in real time) until nothing is in progress: no rollout, replicas applied and ready. */
async function settled(handle: WorkflowHandle<typeof deploymentWorkflow>): Promise<DeploymentView> {
  const until = Date.now() + 20_000;
  let view: DeploymentView | undefined;
  for (;;) {
    view = await handle.query(statusQuery);
    const id = `${view.workspace}/${view.name}`;
    const quiet =
      view.state === 'paused'
        ? view.health === 'NotPresent' && env.provider.revisionsOf(id).length === 0
        : view.state === 'running' &&
          view.health === 'Healthy' &&
          view.replicas.ready === view.replicas.desired &&
          env.provider.revisionsOf(id).length === 1 &&
          env.provider.revisions.get(`${id}#${view.revision}`)?.replicas.length ===
            view.replicas.desired;
    if (quiet) return view;
    if (Date.now() > until)
      throw new Error(`stuck: never settled; last view ${JSON.stringify(view)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the sequence's workflows wait on: pending activities and children (a stuck sequence). */
async function inFlight(workflowIds: string[]): Promise<string> {
  const lines: string[] = [];
  for (const id of workflowIds) {
    try {
      const { raw } = await env.client.workflow.getHandle(id).describe();
      const activities = (raw.pendingActivities ?? []).map(
        (a) => `${a.activityType?.name}(attempt ${a.attempt}, state ${a.state})`,
      );
      const children = (raw.pendingChildren ?? []).map((c) => `child ${c.workflowId}`);
      lines.push(
        `${id} [${raw.workflowExecutionInfo?.status}]: ${[...activities, ...children].join(', ') || 'nothing'}`,
      );
    } catch (err) {
      lines.push(`${id}: ${(err as Error).message}`);
    }
  }
  return lines.join('; ');
}

/** A diagnostic, or a note that the server did not give it in time (a failure still reports). */
function within(diagnostic: Promise<string>, ms = 15_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`(not answered within ${ms / 1000} s)`), ms);
  });
  return Promise.race([diagnostic, late]).finally(() => clearTimeout(timer));
}

/** The last events of a workflow's history, by type: where a stuck sequence stopped. */
async function historyTail(workflowId: string): Promise<string> {
  const { EventType } = temporal.api.enums.v1;
  try {
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? [])
      .slice(process.env.SEQUENCE_DEBUG ? 0 : -12)
      .map(
        (e) =>
          `${e.eventId}:${String(EventType[e.eventType ?? 0]).replace('EVENT_TYPE_', '')}${e.activityTaskScheduledEventAttributes ? `(${e.activityTaskScheduledEventAttributes.activityType?.name})` : ''}${e.activityTaskCompletedEventAttributes ? `(of ${e.activityTaskCompletedEventAttributes.scheduledEventId})` : ''}`,
      )
      .join(', ');
  } catch (err) {
    return `(no history: ${(err as Error).message})`;
  }
}

function isEdit(op: Op): boolean {
  return ['editScaling', 'editTags', 'editModel', 'editScaleToZero'].includes(op.kind);
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function parse(spec: unknown): DeploymentSpec {
  const result = validateSpec(spec);
  if (!result.ok) throw new Error(`test bug: invalid spec ${JSON.stringify(result.violations)}`);
  return result.value;
}

function patchOf(op: Op, spec: DeploymentSpec): Record<string, unknown> {
  switch (op.kind) {
    case 'editScaling':
      return {
        scaling: {
          minReplicas: spec.scaling.scaleToZero.enabled ? 0 : op.min,
          maxReplicas: op.max,
        },
      };
    case 'editTags':
      return { tags: { [op.key]: op.value } };
    case 'editModel':
      return { model: spec.model === 'fast-model' ? 'fast-model-v2' : 'fast-model' };
    case 'editScaleToZero':
      return {
        scaling: {
          minReplicas: 0,
          scaleToZero: { enabled: true, cooldownSeconds: op.cooldownSeconds },
        },
      };
    default:
      throw new Error(`not an edit: ${op.kind}`);
  }
}

function describeOp(op: Op): string {
  const { kind, ...args } = op;
  return Object.keys(args).length > 0 ? `${kind}${JSON.stringify(args)}` : kind;
}

export async function runSequences(
  on: SequenceEnv,
  count: number,
  prefix: string,
  concurrency = CONCURRENCY,
): Promise<void> {
  env = on;
  console.log(`message sequences (${prefix}): SEQUENCE_SEED=${SEED} SEQUENCES=${count}`);
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const seed = SEED + i;
      const sequence = new Sequence(seed, `${prefix}${seed.toString(36)}-${i}`);
      let timer: NodeJS.Timeout | undefined;
      try {
        const stuck = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`stuck: no end within ${SEQUENCE_TIMEOUT_MS / 1000} s`)),
            SEQUENCE_TIMEOUT_MS,
          );
        });
        await Promise.race([sequence.run(generate(random(seed))), stuck]);
        if (process.env.SEQUENCE_DEBUG) console.log(`${sequence.workflowId}: done`);
      } catch (err) {
        const message = (err as Error).message;
        // A stuck sequence may hold the time-skipping server's clock: stop starting new ones.
        if (message.startsWith('stuck')) next = count;
        const [tail, pending] = await Promise.all([
          within(historyTail(sequence.workflowId)),
          within(inFlight(sequence.workflowIds)),
        ]);
        failures.push(
          `seed ${seed} (SEQUENCE_SEED=${seed} SEQUENCES=1): ${message}\n  steps: ${sequence.log.join(' -> ')}\n  history ends: ${tail}\n  in flight: ${pending}`,
        );
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  expect(failures, failures.join('\n')).toEqual([]);
}
