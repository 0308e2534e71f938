/**
 * `GET /`: what a person who opens Parley's URL in a browser sees: what this
 * is, where the API reference and the OpenAPI document are, how to put the
 * widget on a site (and, locally, where the demo shop runs), and whether this
 * deployment has its bindings (D1 answering, the queues, the conversation
 * objects, R2). Static apart from that check; no script, and a CSP that
 * allows none and pins the one inline style block by its hash.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { isLocal } from '../http/targets';


const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface Check {
  name: string;
  what: string;
  ok: boolean;
  note?: string;
}

/** D1 is asked a trivial query; the others can only be seen as bound or not without side effects. */
async function checks(env: Env): Promise<Check[]> {
  let d1: Check = { name: 'DB', what: 'D1 database', ok: false, note: 'not bound' };
  if (env.DB) {
    try {
      await env.DB.prepare('SELECT 1').first();
      d1 = { name: 'DB', what: 'D1 database', ok: true, note: 'answers' };
    } catch (err) {
      d1 = { name: 'DB', what: 'D1 database', ok: false, note: `bound, but a query failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  const bound = (name: keyof Env, what: string): Check => ({ name, what, ok: Boolean(env[name]), note: env[name] ? 'bound' : 'not bound' });
  return [
    d1,
    bound('CONVERSATIONS', 'Durable Object namespace (ConversationDO)'),
    bound('INDEX_QUEUE', 'Queue parley-index'),
    bound('WEBHOOKS_QUEUE', 'Queue parley-webhooks'),
    bound('DELIVERIES_QUEUE', 'Queue parley-deliveries'),
    bound('ATTACHMENTS', 'R2 bucket for attachments'),
    { name: 'MASTER_KEY', what: 'secret that seals key secrets and channel tokens', ok: Boolean(env.MASTER_KEY), note: env.MASTER_KEY ? 'set' : 'missing: wrangler secret put MASTER_KEY' },
  ];
}

const STYLE = `*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a1a1a;background:#f6f7fb}
header{background:#1b1f3a;color:#fff;padding:2rem 1rem}header p{margin:.25rem 0 0;color:#e3e6f5}
h1{margin:0;font-size:2rem}main{max-width:960px;margin:0 auto;padding:1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:1rem;margin:1rem 0}
.card{background:#fff;border:1px solid #d5d8e6;border-radius:8px;padding:1rem}.card h2{margin:0 0 .5rem;font-size:1.15rem}
a{color:#1f4fb0}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.875rem}
pre{background:#1b1f3a;color:#f1f3fb;padding:.75rem;border-radius:6px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{width:100%;border-collapse:collapse;background:#fff}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #d5d8e6;vertical-align:top}
.ok{color:#136c3a;font-weight:600}.bad{color:#a61b1b;font-weight:600}
@media (max-width:600px){h1{font-size:1.6rem}th:nth-child(2),td:nth-child(2){display:none}}`;

function page(origin: string, local: boolean, rows: Check[]): string {
  const healthy = rows.every((r) => r.ok);
  const embed = `<script src="${origin}/web-messenger.js"></script>\n<script>ParleyMessenger.init({ appId: '<app id>', integrationId: '<web integration id>' });</script>`;
  const widget = local
    ? `<p>Under <code>npm start</code> the demo shop with the widget and a support inbox runs beside Parley: <a href="http://127.0.0.1:8795/">http://127.0.0.1:8795/</a> (port <code>DEMO_PORT</code>, default 8795; <code>DEMO=off</code> leaves it out).</p>`
    : `<p>Create a <code>web</code> integration whose <code>originWhitelist</code> lists your site, then add to its pages:</p>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Parley</title><style>${STYLE}</style></head>
<body>
<header><h1>Parley</h1><p>Open-source omnichannel messaging on Cloudflare Workers, wire-compatible with the Sunshine Conversations v2 API.</p></header>
<main>
<div class="cards">
<section class="card"><h2><a href="/docs">API reference</a></h2><p>Every route: the v2 contract and Parley's extensions, with request and response bodies.</p></section>
<section class="card"><h2><a href="/openapi.json">openapi.json</a></h2><p>The OpenAPI 3.1 document, for code generators and the typed TypeScript client in <code>clients/typescript</code>.</p></section>
<section class="card"><h2><a href="/healthz">Health</a></h2><p>This deployment is <span class="${healthy ? 'ok' : 'bad'}">${healthy ? 'ready' : 'missing something'}</span>; the table below says what.</p></section>
</div>
<h2>The widget</h2>
${widget}
<pre><code>${escape(embed)}</code></pre>
<h2>This deployment</h2>
<table><thead><tr><th scope="col">Binding</th><th scope="col">What</th><th scope="col">State</th></tr></thead><tbody>
${rows.map((r) => `<tr><td><code>${r.name}</code></td><td>${escape(r.what)}</td><td class="${r.ok ? 'ok' : 'bad'}">${escape(r.note ?? '')}</td></tr>`).join('\n')}
</tbody></table>
</main>
</body>
</html>`;
}

let csp: Promise<string> | undefined;
function policy(): Promise<string> {
  csp ??= crypto.subtle.digest('SHA-256', new TextEncoder().encode(STYLE)).then((d) => {
    const hash = btoa(String.fromCharCode(...new Uint8Array(d)));
    return `default-src 'none'; style-src 'sha256-${hash}'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  });
  return csp;
}

export async function landingPage(request: IRequest, env: Env): Promise<Response> {
  const origin = env.PUBLIC_URL?.replace(/\/+$/, '') || new URL(request.url).origin;
  return new Response(page(origin, isLocal(env), await checks(env)), {
    headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': await policy(), 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' },
  });
}
