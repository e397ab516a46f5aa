import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites start real servers; on a 2-core machine running them
    // one file at a time keeps timings honest and avoids port fights.
    fileParallelism: false,
  },
});
