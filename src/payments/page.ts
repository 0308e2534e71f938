/**
 * The small HTML pages a payer sees on Parley's side of a payment: errors
 * ("this link is not valid", "already paid", "Stripe is unavailable"),
 * "payment received" and "payment cancelled". Mobile-first (one column,
 * system font, large tap targets), accessible (a language, a title, one h1,
 * errors announced with role=alert), no script, and a CSP that allows none.
 */
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface PageOptions {
  status: number;
  title: string;
  /** Paragraphs of plain text. */
  lines: string[];
  tone?: 'error' | 'success' | 'info';
  /** A link under the text, e.g. "Try again". */
  link?: { href: string; text: string };
  headers?: Record<string, string>;
}

const STYLE = `
  :root { color-scheme: light dark; --fg: #1b1b1f; --bg: #f6f6f8; --card: #fff; --accent: #1a56db; --ok: #0e7a3a; --bad: #b3261e; }
  @media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --bg: #121214; --card: #1e1e22; --accent: #8ab4ff; --ok: #6fdc8c; --bad: #ffb4ab; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
  main { max-width: 32rem; margin: 0 auto; padding: 2rem 1.25rem; }
  .card { background: var(--card); border-radius: 14px; padding: 1.5rem 1.25rem; box-shadow: 0 1px 3px rgb(0 0 0 / 0.12); }
  h1 { font-size: 1.4rem; line-height: 1.25; margin: 0 0 0.75rem; }
  .error h1 { color: var(--bad); } .success h1 { color: var(--ok); }
  p { margin: 0 0 0.75rem; overflow-wrap: anywhere; }
  a.button { display: block; margin-top: 1.25rem; padding: 0.85rem 1rem; min-height: 48px; border-radius: 10px; text-align: center; font-weight: 600;
             text-decoration: none; color: #fff; background: var(--accent); }
  @media (prefers-color-scheme: dark) { a.button { color: #0b1020; } }
`;

export function page(o: PageOptions): Response {
  const tone = o.tone ?? 'info';
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escape(o.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<div class="card ${tone}"${tone === 'error' ? ' role="alert"' : ''}>
<h1>${escape(o.title)}</h1>
${o.lines.map((l) => `<p>${escape(l)}</p>`).join('\n')}
${o.link ? `<a class="button" href="${escape(o.link.href)}">${escape(o.link.text)}</a>` : ''}
</div>
</main>
</body>
</html>`;
  return new Response(html, {
    status: o.status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      ...o.headers,
    },
  });
}

/** An amount in the currency's smallest unit, as people read it: 999 usd → "$9.99", 500 jpy → "¥500". */
export function formatAmount(amount: number, currency: string): string {
  try {
    const format = new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase() });
    return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    return `${amount} ${currency.toUpperCase()}`;
  }
}
