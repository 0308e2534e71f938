/**
 * Starts one Parley for the Node suites: `wrangler dev` on workerd with fresh
 * state in a temp folder and test credentials, exactly as `npm start` runs it.
 * Suites read the URL and the account key through `inject`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startParley } from '../../scripts/local.mjs';

export const ACCOUNT_KEY_ID = 'act_0000000000000000000000aa';
export const ACCOUNT_KEY_SECRET = 'node-suite-account-secret';

declare module 'vitest' {
  export interface ProvidedContext {
    parleyUrl: string;
    accountKeyId: string;
    accountKeySecret: string;
  }
}

export default async function setup(project: TestProject) {
  const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-test-'));
  const port = 18787 + Math.floor(Math.random() * 1000);
  const parley = await startParley({
    port,
    persistTo,
    quiet: true,
    vars: {
      ACCOUNT_KEY_ID,
      ACCOUNT_KEY_SECRET,
      MASTER_KEY: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
      // A short webhook retry schedule, so the fault and dead-letter suites run in seconds.
      WEBHOOK_RETRY_BASE_MS: '200',
      WEBHOOK_RETRY_CAP_MS: '1000',
      WEBHOOK_RETRY_WINDOW_MS: '10000',
      WEBHOOK_TIMEOUT_MS: '1000',
      // Channel deliveries retry fast too, so retry-after and give-up paths are observable in seconds.
      CHANNEL_RETRY_BASE_MS: '200',
      CHANNEL_RETRY_CAP_MS: '1000',
      CHANNEL_RETRY_WINDOW_MS: '8000',
      PARLEY_ENV: 'local',
    },
  });
  project.provide('parleyUrl', parley.url);
  project.provide('accountKeyId', ACCOUNT_KEY_ID);
  project.provide('accountKeySecret', ACCOUNT_KEY_SECRET);
  return async () => {
    await parley.stop();
    rmSync(persistTo, { recursive: true, force: true });
  };
}
