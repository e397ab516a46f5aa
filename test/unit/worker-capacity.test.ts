/** Worker capacity comes from configuration: defaults, the SDK options it sets, bad values. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config';
import { workerCapacity } from '../../worker/create-worker';

describe('worker capacity', () => {
  it('has deliberate defaults, passed to the worker as its slot counts and cache size', () => {
    expect(workerCapacity(loadConfig({}))).toEqual({
      maxConcurrentActivityTaskExecutions: 100,
      maxConcurrentLocalActivityExecutions: 100,
      maxConcurrentWorkflowTaskExecutions: 40,
      maxCachedWorkflows: 1000,
    });
  });

  it('takes each from its variable', () => {
    const config = loadConfig({
      WORKER_MAX_CONCURRENT_ACTIVITIES: '600',
      WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: '50',
      WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '80',
      WORKER_MAX_CACHED_WORKFLOWS: '0',
    });
    expect(workerCapacity(config)).toEqual({
      maxConcurrentActivityTaskExecutions: 600,
      maxConcurrentLocalActivityExecutions: 50,
      maxConcurrentWorkflowTaskExecutions: 80,
      maxCachedWorkflows: 0,
    });
  });

  it.each([
    ['WORKER_MAX_CONCURRENT_ACTIVITIES', '0'],
    ['WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES', '0'],
    ['WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', '1'],
    ['WORKER_MAX_CACHED_WORKFLOWS', '-1'],
    ['WORKER_MAX_CACHED_WORKFLOWS', 'many'],
  ])('refuses %s=%s, naming the variable', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(variable);
  });
});
