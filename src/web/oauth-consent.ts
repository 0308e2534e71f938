/**
 * The pages of `/oauth/authorize`: the consent page, where an app's owner
 * signs in with an app key and allows or denies a partner's request, and the
 * error page shown when the request itself is unusable (unknown client,
 * unregistered redirect URI, wrong response_type), which never redirects.
 *
 * Plain HTML with one inline stylesheet and no script, image, font or other
 * resource, under a CSP that allows exactly that stylesheet (by hash). The
 * form posts the key id and secret once; Parley sets no cookie, and after a
 * failed sign-in the page comes back without the secret in it. Mobile first:
 * one column, 48 px touch targets, long names and URLs wrap instead of
 * overflowing; two columns of buttons from 40rem up.
 */
import type { OAuthClient } from '../schema/oauth';
import { toBase64 } from '../channels/signing';

const STYLE = `
:root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--text:#1b1f27;--muted:#475063;--line:#c9ced8;--accent:#0b57d0;--on-accent:#fff;--danger:#b3261e;--danger-bg:#fdecea}
@media (prefers-color-scheme:dark){:root{--bg:#101317;--card:#1a1e25;--text:#e7e9ee;--muted:#b3b9c5;--line:#3b424e;--accent:#8ab4f8;--on-accent:#0a1a33;--danger:#f4b8b3;--danger-bg:#3a1a18}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;overflow-wrap:anywhere}
main{max-width:34rem;margin:0 auto;padding:1rem .75rem 2rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.25rem 1rem}
.brand{margin:0 0 .5rem;font-size:.875rem;font-weight:700;letter-spacing:.04em;text-transform:uppercase;color:var(--muted)}
h1{font-size:1.375rem;line-height:1.3;margin:0 0 1rem}
h2{font-size:1rem;margin:1.25rem 0 .25rem}
p{margin:.5rem 0}
ul{margin:.25rem 0 .75rem;padding-left:1.25rem}
li{margin:.25rem 0}
.meta{font-size:.875rem;color:var(--muted)}
code{font:.875rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
fieldset{border:1px solid var(--line);border-radius:8px;margin:1.25rem 0 0;padding:.75rem 1rem 1rem;min-width:0}
legend{font-weight:600;padding:0 .25rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{display:block;width:100%;min-height:48px;font:inherit;padding:.5rem .75rem;border:1px solid var(--muted);border-radius:8px;background:var(--card);color:var(--text)}
input[aria-invalid=true]{border-color:var(--danger);border-width:2px}
.hint{font-size:.875rem;color:var(--muted);margin:.5rem 0 0}
.error{background:var(--danger-bg);color:var(--danger);border-left:4px solid var(--danger);border-radius:4px;padding:.5rem .75rem;font-weight:600}
.actions{display:flex;flex-direction:column;gap:.75rem;margin-top:1.25rem}
button{min-height:48px;font:inherit;font-weight:600;border-radius:8px;border:1px solid var(--muted);padding:.625rem 1rem;background:transparent;color:var(--text);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
@media (min-width:40rem){main{padding-top:3rem}.card{padding:2rem}.actions{flex-direction:row}.actions button{flex:1}}
`;

/** CSP hashes cover the stylesheet's exact text, so it is hashed once per isolate. */
let styleHash: Promise<string> | undefined;
function styleSource(): Promise<string> {
  styleHash ??= crypto.subtle
    .digest('SHA-256', new TextEncoder().encode(STYLE))
    .then((d) => `'sha256-${toBase64(new Uint8Array(d))}'`);
  return styleHash;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The page's headers. `form-action` names the redirect URI's origin beside
 * Parley's own because browsers apply it to the redirect that answers the
 * form, not only to the form's own target.
 */
async function htmlResponse(body: string, status: number, formTarget?: string): Promise<Response> {
  const formAction = formTarget ? `'self' ${new URL(formTarget).origin}` : "'none'";
  const csp = `default-src 'none'; style-src ${await styleSource()}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
  return new Response(body, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    },
  });
}

function shell(title: string, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Parley</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<div class="card">
<p class="brand">Parley</p>
${main}
</div>
</main>
</body>
</html>
`;
}

/** What an integration token may and may not do, in the owner's words (the scope rules of src/auth/authenticate.ts). */
const MAY = [
  'create, read, update and delete users and their conversations',
  'read and send messages, typing indicators and read receipts',
  'pass, offer, accept and release control of conversations',
  'upload attachments',
  "create webhooks for itself and receive the app's events through them",
];
const MAY_NOT = ["change the app's settings", 'see or create app keys, other integrations or their webhooks', 'configure the switchboard'];

export interface ConsentView {
  client: OAuthClient;
  redirectUri: string;
  state?: string;
  /** Shown again after a failed sign-in; the secret never is. */
  keyId?: string;
  error?: string;
}

export function consentPage(view: ConsentView, status = 200): Promise<Response> {
  const name = escapeHtml(view.client.name);
  const back = new URL(view.redirectUri);
  const invalid = view.error ? ' aria-invalid="true"' : '';
  const described = (hint: string) => ` aria-describedby="${view.error ? `signin-error ${hint}` : hint}"`;
  const hidden = (field: string, value: string | undefined) => (value === undefined ? '' : `<input type="hidden" name="${field}" value="${escapeHtml(value)}">\n`);
  const main = `<h1 id="title"><span>${name}</span> wants to connect to one of your apps</h1>
<p>If you allow it, <strong>${name}</strong> becomes an integration of the app whose key you sign in with, and gets a token that can:</p>
<ul>
${MAY.map((m) => `<li>${m}</li>`).join('\n')}
</ul>
<h2>It cannot</h2>
<ul>
${MAY_NOT.map((m) => `<li>${m}</li>`).join('\n')}
</ul>
<p class="meta">You can end its access at any time by deleting the integration. Client ID <code>${escapeHtml(view.client.id)}</code></p>
<form method="post" action="authorize" aria-labelledby="title">
<fieldset>
<legend>Sign in with a key of the app to connect</legend>
${view.error ? `<p class="error" id="signin-error" role="alert">${escapeHtml(view.error)}</p>\n` : ''}<label for="key_id">App key ID</label>
<input id="key_id" name="key_id" required autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="app_…" value="${escapeHtml(view.keyId ?? '')}"${invalid}${described('key-hint')}>
<label for="key_secret">Secret</label>
<input id="key_secret" name="key_secret" type="password" required autocomplete="off"${invalid}${described('key-hint')}${view.error ? ' autofocus' : ''}>
<p class="hint" id="key-hint">The app's owner creates app keys with the account key. The ID and secret go with this form only: Parley keeps neither in a cookie or in your browser.</p>
</fieldset>
${hidden('response_type', 'code')}${hidden('client_id', view.client.id)}${hidden('redirect_uri', view.redirectUri)}${hidden('state', view.state)}<div class="actions">
<button type="submit" name="decision" value="approve" class="primary">Allow access</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
<p class="meta">Either way you go back to <strong>${escapeHtml(back.origin)}</strong>.</p>
</form>`;
  return htmlResponse(shell(`Connect ${view.client.name}`, main), status, view.redirectUri);
}

/** A request Parley will not act on; it says why and sends the browser nowhere. */
export function errorPage(reason: string, status = 400): Promise<Response> {
  const main = `<h1>This authorization request can't be completed</h1>
<p role="alert">${escapeHtml(reason)}</p>
<p>Nothing was shared. Go back to the service that sent you here and try again, or tell its makers what this page says.</p>`;
  return htmlResponse(shell('Authorization error', main), status);
}
