import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start brokers, servers and child processes; two cores, so keep it modest.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
