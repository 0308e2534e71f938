import { inject, expect, it } from 'vitest';

it('a locally started Parley answers its health check', async () => {
  const res = await fetch(`${inject('parleyUrl')}/healthz`);
  expect(res.status).toBe(200);
});
