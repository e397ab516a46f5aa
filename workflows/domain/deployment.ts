/**
 * The deployment resource as the API and the Temporal UI see it: states, health, events.
 * Shared by the workflow (which owns it) and the API (which renders it).
 */
import type { DeploymentSpec } from './spec';

export const DEPLOYMENT_STATES = [
  'creating',
  'running',
  'paused',
  'updating',
  'deleting',
  'deleted',
  'failed',
] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

export const HEALTH_STATES = [
  'Progressing',
  'Healthy',
  'ProgressingWithTimeout',
  'NotPresent',
  'Unknown',
] as const;
export type Health = (typeof HEALTH_STATES)[number];

export const EVENT_TYPES = [
  'Lifecycle',
  'Health',
  'ScaleOut',
  'ScaleIn',
  'Restart',
  'Rollout',
  'Quota',
  'Capacity',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface DeploymentEvent {
  time: string;
  type: EventType;
  /** Short machine-friendly cause, e.g. "ReplicasReady", "ReadinessTimeout", "RolledBack". */
  reason: string;
  message: string;
  revision?: number;
}

export interface DeploymentView {
  name: string;
  workspace: string;
  spec: DeploymentSpec;
  revision: number;
  state: DeploymentState;
  health: Health;
  replicas: { desired: number; ready: number };
  /** Replica restarts of the revision that serves, since it started (each one is a Restart event). */
  restarts: number;
  createdAt: string;
  updatedAt: string;
  /**
   * Changes on every accepted write (edit, pause, resume, delete): the ETag of the resource, and
   * what `If-Match` compares with. Opaque; unique across deployments that reuse a name.
   */
  version: string;
}

export function deploymentId(workspace: string, name: string): string {
  return `${workspace}/${name}`;
}

/** The workspace part of a deployment id (`workspace/name`). */
export function workspaceOf(id: string): string {
  return id.slice(0, id.indexOf('/'));
}
