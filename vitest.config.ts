/**
 * Two suites. `workerd`: unit and integration tests that run inside workerd
 * through Cloudflare's vitest integration, with the real DOs, D1 and Queues.
 * `node`: tests that drive a locally started Parley (wrangler dev on workerd)
 * over HTTP from Node, the way customers' servers do, including the official
 * sunshine-conversations-client.
 */
import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export const TEST_SECRETS = {
  ACCOUNT_KEY_ID: 'act_000000000000000000000001',
  ACCOUNT_KEY_SECRET: 'test-account-secret',
  MASTER_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
  PARLEY_ENV: 'local',
};

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'src/db/migrations'));
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: './wrangler.toml' },
              miniflare: { bindings: { ...TEST_SECRETS, TEST_MIGRATIONS: migrations } },
            }),
          ],
          test: {
            name: 'workerd',
            include: ['test/workerd/**/*.test.ts'],
            setupFiles: ['test/workerd/setup.ts'],
          },
        },
        {
          test: {
            name: 'node',
            environment: 'node',
            include: ['test/node/**/*.test.ts'],
            globalSetup: ['test/node/global-setup.ts'],
            testTimeout: 60_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
