/**
 * An update the server aborted because the workflow task it was handed to failed (never accepted,
 * nothing changed) is told apart from every other failure: the API sends only that one again.
 */
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { ServiceError } from '@temporalio/client';
import { describe, expect, it, vi } from 'vitest';
import { abortedByFailedTask } from '../../../api/deployment-service';

vi.mock('../../../workflows/domain/lazy-spec', async () => ({
  validateSpec: (await import('../../../workflows/domain/spec')).validateSpec,
}));

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
}

describe('abortedByFailedTask', () => {
  it('is the server aborting an update because its workflow task failed', () => {
    const cause = grpcError(
      grpcStatus.FAILED_PRECONDITION,
      'Unable to perform workflow execution update due to unexpected workflow task failure.',
    );
    expect(abortedByFailedTask(new ServiceError('Workflow Update failed', { cause }))).toBe(true);
    expect(abortedByFailedTask(cause)).toBe(true);
  });

  it('is nothing else: another precondition, another code, a plain error', () => {
    expect(
      abortedByFailedTask(
        new ServiceError('x', {
          cause: grpcError(grpcStatus.FAILED_PRECONDITION, 'workflow is not running'),
        }),
      ),
    ).toBe(false);
    expect(
      abortedByFailedTask(
        new ServiceError('x', {
          cause: grpcError(grpcStatus.UNAVAILABLE, 'unexpected workflow task failure'),
        }),
      ),
    ).toBe(false);
    expect(abortedByFailedTask(new Error('unexpected workflow task failure'))).toBe(false);
  });
});
