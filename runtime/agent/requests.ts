/**
 * Validation of request bodies and path names, and the template comparison that makes
 * revisions immutable.
 */
import { isDeepStrictEqual } from 'node:util';
import type { RevisionTemplate } from '../../activities/providers/provider';
import type { LeaseRequest, ReplicaSetSpec, RouteSpec } from './api';
import { BadRequestError } from './errors';

/** DNS-label-like, so names are safe in file names, URLs and the REPLICA_ID env. */
const NAME = /^[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?$/;

export function validateName(name: string): string {
  if (!NAME.test(name)) {
    throw new BadRequestError(
      `invalid replica set name "${name}": use lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
  return name;
}

export function parseReplicaSetSpec(body: unknown): ReplicaSetSpec {
  const spec = object(body, 'body');
  const template = object(spec.template, 'template');
  return {
    deploymentId: nonEmptyString(spec.deploymentId, 'deploymentId'),
    revision: integer(spec.revision, 'revision', 1),
    replicas: integer(spec.replicas, 'replicas', 0),
    template: parseTemplate(template),
  };
}

export function parseRouteSpec(body: unknown): RouteSpec {
  return {
    replicaSet: validateName(nonEmptyString(object(body, 'body').replicaSet, 'replicaSet')),
  };
}

export function parseLeaseRequest(body: unknown): LeaseRequest {
  const request = object(body, 'body');
  const checkpoint = request.checkpoint;
  if (checkpoint !== undefined && typeof checkpoint !== 'string')
    throw new BadRequestError('checkpoint must be a string');
  return {
    holder: nonEmptyString(request.holder, 'holder'),
    durationMs: integer(request.durationMs, 'durationMs', 1),
    ...(checkpoint !== undefined ? { checkpoint } : {}),
  };
}

/** Equal when they would run the same thing; an absent failLoad/env equals false/{}. */
export function sameTemplate(a: RevisionTemplate, b: RevisionTemplate): boolean {
  const canonical = (t: RevisionTemplate): unknown => ({
    model: t.model,
    loadMs: t.loadMs,
    failLoad: t.failLoad ?? false,
    accelerator: t.accelerator ?? null,
    env: t.env ?? {},
  });
  return isDeepStrictEqual(canonical(a), canonical(b));
}

/** Keeps only the known fields, so state.json never stores arbitrary client data. */
function parseTemplate(t: Record<string, unknown>): RevisionTemplate {
  const template: RevisionTemplate = {
    model: nonEmptyString(t.model, 'template.model'),
    loadMs: integer(t.loadMs, 'template.loadMs', 0),
  };
  if (t.failLoad !== undefined) {
    if (typeof t.failLoad !== 'boolean')
      throw new BadRequestError('template.failLoad must be a boolean');
    template.failLoad = t.failLoad;
  }
  if (t.accelerator !== undefined) {
    const accelerator = object(t.accelerator, 'template.accelerator');
    template.accelerator = {
      type: nonEmptyString(accelerator.type, 'template.accelerator.type'),
      count: integer(accelerator.count, 'template.accelerator.count', 0),
    };
  }
  if (t.env !== undefined) {
    const env = object(t.env, 'template.env');
    for (const [key, value] of Object.entries(env)) {
      if (typeof value !== 'string')
        throw new BadRequestError(`template.env.${key} must be a string`);
    }
    template.env = env as Record<string, string>;
  }
  return template;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function nonEmptyString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '')
    throw new BadRequestError(`${what} must be a non-empty string`);
  return value;
}

function integer(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new BadRequestError(`${what} must be an integer >= ${min}`);
  }
  return value;
}
