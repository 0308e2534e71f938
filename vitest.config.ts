/**
 * Two suites. `workerd`: unit and integration tests that run inside workerd
 * through Cloudflare's vitest integration, with the real DOs, D1 and Queues.
 * `node`: tests that drive a locally started Parley (wrangler dev on workerd)
 * over HTTP from Node, the way customers' servers do, including the official
 * sunshine-conversations-client.
 */
import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { fetch as loopbackFetch, Response, type Request } from 'miniflare';
import { defineConfig } from 'vitest/config';

export const TEST_SECRETS = {
  ACCOUNT_KEY_ID: 'act_000000000000000000000001',
  ACCOUNT_KEY_SECRET: 'test-account-secret',
  MASTER_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
  PARLEY_ENV: 'local',
};

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * The workerd suite's network, under every fetch the Worker, its Durable
 * Objects and queue consumers make for real (suites that route
 * `globalThis.fetch` to fakes never get here). Loopback goes out as usual; any
 * other host is answered 502 here, before a DNS lookup: offline, workerd's own
 * lookup of a made-up target (receiver.test, example.org) fails with an
 * internal error printed as an "uncaught exception" per attempt, and online no
 * test may reach past this machine anyway.
 */
async function testNetwork(request: Request): Promise<Response> {
  const { hostname, origin } = new URL(request.url);
  if (!LOOPBACK.test(hostname)) return new Response(`test network: nothing listens at ${origin}`, { status: 502, headers: { 'x-test-network': 'refused' } });
  try {
    return await loopbackFetch(request);
  } catch (err) {
    return new Response(`test network: ${origin} did not answer (${err instanceof Error ? (err.cause ?? err).toString() : String(err)})`, { status: 502, headers: { 'x-test-network': 'unreachable' } });
  }
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'src/db/migrations'));
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: './wrangler.toml' },
              miniflare: { bindings: { ...TEST_SECRETS, TEST_MIGRATIONS: migrations }, outboundService: testNetwork },
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
