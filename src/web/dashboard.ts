/**
 * The dashboard page, `GET /dashboard`: one static HTML document built from
 * src/dashboard/ by scripts/build-dashboard.mjs. It holds no secret and no
 * data; the person signs in with an app key inside the page, which then calls
 * the v2 API same-origin with Basic auth (no CORS involved: /v2 sends no CORS
 * headers, so only this origin's pages can read its answers in a browser).
 * The CSP pins the inline script and style by hash and allows connections to
 * this origin only; the page may not be framed, cached or leak a referrer.
 */
import { DASHBOARD_CSP, DASHBOARD_HTML } from './dashboard-page.generated';

export function dashboardPage(): Response {
  return new Response(DASHBOARD_HTML, {
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': DASHBOARD_CSP,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    },
  });
}
