/** Applies every D1 migration before the suites run, as `npm start` and deploys do. */
import { applyD1Migrations, env } from 'cloudflare:test';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
