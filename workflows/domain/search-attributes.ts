/**
 * Search attributes: what the list API and the Temporal UI filter deployments on.
 * Registered on the dev server at start (`scripts/temporal-dev-server.ts`) and in production
 * with `temporal operator search-attribute create`.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA = {
  workspace: defineSearchAttributeKey('DeploymentWorkspace', SearchAttributeType.KEYWORD),
  name: defineSearchAttributeKey('DeploymentName', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('DeploymentState', SearchAttributeType.KEYWORD),
  health: defineSearchAttributeKey('DeploymentHealth', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('DeploymentModel', SearchAttributeType.KEYWORD),
  /** "key:value" per tag, and each key alone (tagSearchValues). */
  tags: defineSearchAttributeKey('DeploymentTags', SearchAttributeType.KEYWORD_LIST),
} as const;

/** Name=Type pairs for `temporal server start-dev --search-attribute`. */
export const SEARCH_ATTRIBUTE_FLAGS: string[] = Object.values(SA).map(
  (key) =>
    `${key.name}=${key.type === SearchAttributeType.KEYWORD_LIST ? 'KeywordList' : 'Keyword'}`,
);

export function tagValues(tags: Record<string, string>): string[] {
  return Object.entries(tags).map(([k, v]) => `${k}:${v}`);
}

/**
 * What the tags search attribute holds: "key:value" per tag, then each key alone, so a filter on
 * a key finds any value (`DeploymentTags = 'team'`). Keys have no ":", so the two never collide.
 */
export function tagSearchValues(tags: Record<string, string>): string[] {
  return [...tagValues(tags), ...Object.keys(tags)];
}
