/** Test-only bindings added in vitest.config.ts, on top of Parley's own. */
type ParleyEnv = import('../../src/env').Env;

declare namespace Cloudflare {
  interface Env extends ParleyEnv {
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
  }
}
