import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native work is multi-threaded already; running test files side by side would
    // oversubscribe the two cores and make timing-sensitive CLI tests flaky.
    fileParallelism: false,
  },
});
