/**
 * Structured logs (config/logging.ts, worker/telemetry.ts): one JSON object per line in one shape
 * for every process, the deployment's ID derived from a workflow's, fastify's lines alike.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  apiLoggerOptions,
  deploymentIdOfWorkflowId,
  jsonLog,
  logLevel,
  logLine,
} from '../../config/logging';
import { runtimeLogLine } from '../../worker/telemetry';

const time = new Date('2026-12-01T10:00:00.000Z');

describe('deploymentIdOfWorkflowId', () => {
  it.each([
    ['deployment:ws:llama', 'ws/llama'],
    ['deployment:team-a:llama-8b:rollout:3', 'team-a/llama-8b'],
    ['quota:ws', undefined],
    ['deployment:ws', undefined],
    ['deployment:ws:a:b', undefined],
    ['other:ws:llama', undefined],
  ])('%s -> %s', (workflowId, expected) => {
    expect(deploymentIdOfWorkflowId(workflowId)).toBe(expected);
  });
});

describe('logLevel', () => {
  it.each([
    [undefined, 'warn'],
    ['', 'warn'],
    ['INFO', 'info'],
    [' debug ', 'debug'],
    ['error', 'error'],
    ['verbose', 'warn'],
  ])('%j -> %s', (value, expected) => {
    expect(logLevel(value)).toBe(expected);
  });
});

describe('logLine', () => {
  it('starts with time, level, process and msg, then the deployment and workflow IDs, then the fields', () => {
    const line = logLine({
      time,
      level: 'info',
      process: 'worker',
      msg: 'scaled',
      fields: { runId: 'r1', workflowId: 'deployment:ws:llama:rollout:2', from: 1 },
    });
    expect(Object.keys(JSON.parse(line) as object)).toEqual([
      'time',
      'level',
      'process',
      'msg',
      'deploymentId',
      'workflowId',
      'runId',
      'from',
    ]);
    expect(JSON.parse(line)).toEqual({
      time: '2026-12-01T10:00:00.000Z',
      level: 'info',
      process: 'worker',
      msg: 'scaled',
      deploymentId: 'ws/llama',
      workflowId: 'deployment:ws:llama:rollout:2',
      runId: 'r1',
      from: 1,
    });
    expect(line).not.toContain('\n');
  });

  it('keeps a deploymentId the line gives, and none for a workflow that is not a deployment', () => {
    const given = JSON.parse(
      logLine({ time, level: 'warn', process: 'api', msg: 'm', fields: { deploymentId: 'a/b' } }),
    ) as Record<string, unknown>;
    expect(given.deploymentId).toBe('a/b');
    const quota = JSON.parse(
      logLine({
        time,
        level: 'warn',
        process: 'worker',
        msg: 'm',
        fields: { workflowId: 'quota:a' },
      }),
    ) as Record<string, unknown>;
    expect(quota).not.toHaveProperty('deploymentId');
    expect(quota.workflowId).toBe('quota:a');
  });

  it('writes errors with their message, bigints as text, cycles once, and never lets a field replace a base key', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const err = Object.assign(new Error('boom'), { code: 'ECONNREFUSED' });
    const parsed = JSON.parse(
      logLine({
        time,
        level: 'error',
        process: 'observer',
        msg: 'failed',
        fields: { error: err, big: 10n, cyclic, level: 'fake', msg: 'other', skipped: undefined },
      }),
    ) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      level: 'error',
      msg: 'failed',
      _level: 'fake',
      _msg: 'other',
      big: '10',
      cyclic: { a: 1, self: '[Circular]' },
      error: { name: 'Error', message: 'boom', code: 'ECONNREFUSED', stack: expect.any(String) },
    });
    expect(parsed).not.toHaveProperty('skipped');
  });
});

describe('jsonLog', () => {
  it("writes every line at its level, whatever LOG_LEVEL (the process's own lines)", () => {
    const lines: string[] = [];
    const log = jsonLog('observer', (l) => lines.push(l));
    log.info('active', { runtime: 'dedicated' });
    log.warn('not delivered', { deploymentId: 'ws/a' });
    log.error('failed');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { level: 'info', process: 'observer', msg: 'active', runtime: 'dedicated' },
      { level: 'warn', msg: 'not delivered', deploymentId: 'ws/a' },
      { level: 'error', msg: 'failed' },
    ]);
  });
});

describe("the SDK's log entries (worker/telemetry.ts)", () => {
  it("become the same lines, with the workflow's metadata as fields and its time", () => {
    const line = runtimeLogLine('worker', {
      level: 'WARN',
      message: 'step failed',
      timestampNanos: BigInt(time.getTime()) * 1_000_000n,
      meta: {
        sdkComponent: 'workflow',
        workflowId: 'deployment:ws:llama',
        workflowType: 'deploymentWorkflow',
        runId: 'r1',
        deployment: 'ws/llama',
      },
    });
    expect(JSON.parse(line)).toEqual({
      time: '2026-12-01T10:00:00.000Z',
      level: 'warn',
      process: 'worker',
      msg: 'step failed',
      deploymentId: 'ws/llama',
      workflowId: 'deployment:ws:llama',
      sdkComponent: 'workflow',
      workflowType: 'deploymentWorkflow',
      runId: 'r1',
      deployment: 'ws/llama',
    });
  });
});

describe("the API's fastify logger", () => {
  it('writes the same shape: level by name, ISO time, process "api", msg', async () => {
    const lines: string[] = [];
    const app = Fastify({ logger: apiLoggerOptions('info', { write: (l) => lines.push(l) }) });
    app.get('/x', async () => 'ok');
    await app.inject({ method: 'GET', url: '/x', headers: { authorization: 'Bearer secret-key' } });
    app.log.warn({ deploymentId: 'ws/a' }, 'by hand');
    await app.close();
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.length).toBeGreaterThanOrEqual(3);
    for (const line of parsed) {
      expect(line).toMatchObject({ process: 'api', msg: expect.any(String) });
      expect(['info', 'warn']).toContain(line.level);
      expect(new Date(line.time as string).toISOString()).toBe(line.time);
      expect(line).not.toHaveProperty('pid');
    }
    expect(parsed).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'by hand', deploymentId: 'ws/a' }),
    );
    expect(parsed).toContainEqual(expect.objectContaining({ msg: 'request completed' }));
    expect(lines.join('\n')).not.toContain('secret-key'); // request headers are not logged
  });
});
