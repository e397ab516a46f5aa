/** A real Temporal dev server for tests (the CLI binary scripts/setup.sh provides). */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_FLAGS } from '../../workflows/domain/search-attributes';
import { temporalCliPath } from '../../scripts/toolchain';
import { bundleWorkflows } from '../../worker/create-worker';
import { startWithRetry } from './server-start';

export async function startDevServer(extraArgs: string[] = []): Promise<TestWorkflowEnvironment> {
  return startWithRetry('the Temporal dev server', () =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCliPath() },
        extraArgs: [
          ...SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
          ...extraArgs,
        ],
      },
    }),
  );
}

let bundle: Promise<{ code: string }> | undefined;
/** Bundle the workflow code once per test file (bundling takes seconds). */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflows();
  return bundle;
}

let counter = 0;
/** Unique names per test, so no two tests share a workflow ID. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}
