import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
    // Decides where the tests' MySQL and Redis are (env variables, else Docker, else a clear failure).
    globalSetup: ['test/support/global-setup.ts'],
    // Tests talk to real MySQL and Redis and some start servers or walk orders through a live
    // pipeline: seconds, not milliseconds.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // Separate processes, so a test that starts workers, timers or servers cannot leak them into
    // another file. Two at a time: CI has 2 cores and MariaDB and Redis run on them too.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
