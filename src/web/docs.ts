/**
 * `GET /docs`: the API reference, rendered in the browser by Swagger UI from
 * `/openapi.json`. The renderer is bundled into the Worker
 * (scripts/build-docs.mjs) and served from /docs/* with an ETag and a day's
 * cache, so the page loads nothing from a CDN. Its CSP allows scripts from
 * this origin only (the start-up code is /docs/init.js, not inline); styles
 * need 'unsafe-inline' because Swagger UI, a React app, sets `style`
 * attributes while rendering (collapsing sections, model trees) and that
 * cannot be hashed — styles cannot run code, so this opens no script path.
 */
import type { IRequest } from 'itty-router';
import { DOCS_ASSETS_ETAG, SWAGGER_UI_CSS, SWAGGER_UI_JS } from './docs-assets.generated';

export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': DOCS_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/docs.css">
</head>
<body>
<header class="parley-bar"><a href="/">Parley</a> <span aria-hidden="true">·</span> <span>API reference</span> <a class="raw" href="/openapi.json">openapi.json</a></header>
<main id="swagger-ui" aria-label="API reference"><noscript>The reference needs JavaScript; the document itself is at <a href="/openapi.json">/openapi.json</a>.</noscript></main>
<script src="/docs/swagger-ui.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>`;

/** Starts Swagger UI on the document; no validator badge (it would call swagger.io), try-it-out opt-in per operation. */
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  // Deep links would put an <a href> inside each operation's toggle button (nested interactive controls, an axe violation).
  deepLinking: false,
  layout: 'BaseLayout',
  validatorUrl: null,
  docExpansion: 'none',
  defaultModelsExpandDepth: 0,
  filter: true,
  syntaxHighlight: { activated: true, theme: 'agate' },
  persistAuthorization: false
});
`;

/**
 * Contrast fixes for WCAG AA (axe): Swagger UI's method badges, version
 * badges and greys are lighter than 4.5:1; darker shades of the same hues
 * keep the look. Code examples wrap and grow instead of scrolling, since a
 * scrolling <pre> cannot be reached by keyboard.
 */
const CSS = `body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
.parley-bar{display:flex;gap:.5rem;align-items:center;padding:.75rem 1rem;background:#1b1f3a;color:#fff;font-size:1rem}
.parley-bar a{color:#fff;font-weight:600}
.parley-bar .raw{margin-left:auto;font-weight:400}
.swagger-ui .opblock.opblock-get .opblock-summary-method{background:#1f5fa8}
.swagger-ui .opblock.opblock-post .opblock-summary-method{background:#16794c}
.swagger-ui .opblock.opblock-put .opblock-summary-method{background:#9a5b00}
.swagger-ui .opblock.opblock-patch .opblock-summary-method{background:#0f7a6b}
.swagger-ui .opblock.opblock-delete .opblock-summary-method{background:#b3261e}
.swagger-ui .opblock.opblock-options .opblock-summary-method{background:#2c5282}
.swagger-ui .opblock.opblock-head .opblock-summary-method{background:#6b2fa3}
.swagger-ui .opblock-summary-method{color:#fff}
.swagger-ui .opblock .opblock-summary-description,.swagger-ui .opblock-tag small,.swagger-ui .info .base-url,.swagger-ui .parameter__in,.swagger-ui .prop-format,.swagger-ui .response-col_links,.swagger-ui .renderedMarkdown p,.swagger-ui .model-title,.swagger-ui .model .property.primitive,.swagger-ui .parameter__deprecated,.swagger-ui .opblock-summary-path__deprecated{color:#3b3b3b}
.swagger-ui .opblock .opblock-summary-path,.swagger-ui .opblock .opblock-summary-path a{color:#1a1a1a}
.swagger-ui .info a,.swagger-ui a.nostyle{color:#1f5fa8}
.swagger-ui .filter .operation-filter-input{border-color:#6b6b6b}
.swagger-ui .btn.authorize{color:#16794c;border-color:#16794c}
.swagger-ui .btn.authorize svg{fill:#16794c}
.swagger-ui .scheme-container{padding:1rem}
.swagger-ui .info .title small.version-stamp{background:#3d6b00}
.swagger-ui .info .title small{background:#4a5568}
.swagger-ui .microlight,.swagger-ui .highlight-code pre,.swagger-ui .highlight-code>.microlight{overflow:visible!important;max-height:none!important;white-space:pre-wrap!important;word-break:break-word}
@media (max-width:600px){.swagger-ui .wrapper{padding:0 .5rem}.swagger-ui .opblock .opblock-summary{flex-wrap:wrap}.swagger-ui .opblock .opblock-summary-path{max-width:100%;word-break:break-all}.swagger-ui .info .title{font-size:1.6rem}}
`;

/** The renderer is cached for a day under its ETag; Parley's own two small files are revalidated each time (they change with Parley, not the renderer). */
const ASSETS: Record<string, { body: string; type: string; vendored: boolean }> = {
  'swagger-ui.js': { body: SWAGGER_UI_JS, type: 'text/javascript; charset=utf-8', vendored: true },
  'swagger-ui.css': { body: SWAGGER_UI_CSS, type: 'text/css; charset=utf-8', vendored: true },
  'init.js': { body: INIT, type: 'text/javascript; charset=utf-8', vendored: false },
  'docs.css': { body: CSS, type: 'text/css; charset=utf-8', vendored: false },
};

export function docsPage(): Response {
  return new Response(PAGE, { headers: PAGE_HEADERS });
}

/** `GET /docs/{asset}`: the renderer and its start-up; a day's cache, revalidated by ETag after a deploy. */
export function docsAsset(request: IRequest): Response {
  const asset = ASSETS[request.params.asset ?? ''];
  if (!asset) return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  if (!asset.vendored) return new Response(asset.body, { headers: { 'content-type': asset.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' } });
  const etag = `"${DOCS_ASSETS_ETAG}"`;
  const headers = { 'content-type': asset.type, 'cache-control': 'public, max-age=86400', etag, 'x-content-type-options': 'nosniff' };
  if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(asset.body, { headers });
}
