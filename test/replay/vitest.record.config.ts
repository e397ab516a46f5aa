/**
 * Records the replay fixtures (test/replay/histories/*.json); not part of `npm test`.
 *
 *   npx tsc -p tsconfig.build.json && npx vitest run --config test/replay/vitest.record.config.ts
 *
 * Run it from the repository root after a change to workflow code that is meant to change
 * behaviour, review the diff of the JSON files, and commit them with the change.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: process.cwd(),
    include: ['test/replay/record-histories.record.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
