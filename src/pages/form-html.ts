/**
 * The HTML of the hosted form page: the form itself (every field type of the
 * contract, errors next to their field and summed up on top), and the pages a
 * person sees when the link cannot be used or the form is answered. Pure
 * string building with every value escaped; one inline stylesheet carrying the
 * response's CSP nonce, no script, no external asset. Mobile first: one column
 * that never gets wider than the screen, large tap targets, visible focus,
 * WCAG AA contrast.
 */
import type { FieldError, FormFieldSpec, FormValues } from '../content/form-validation';
import { DEFAULT_MAX_SIZE } from '../content/form-validation';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;overflow-wrap:anywhere}
main{max-width:36rem;margin:0 auto;padding:16px}
.card{background:#fff;border:1px solid #d1d5db;border-radius:12px;padding:20px 16px}
h1{font-size:1.375rem;line-height:1.3;margin:0 0 12px}
p{margin:0 0 12px}
.intro{white-space:pre-line}
.field{margin:0 0 18px}
label{display:block;font-weight:600;margin:0 0 6px}
input,select{display:block;width:100%;max-width:100%;min-height:48px;padding:10px 12px;font:inherit;color:#111827;background:#fff;border:2px solid #6b7280;border-radius:8px}
select{appearance:auto}
input::placeholder{color:#6b7280}
[aria-invalid=true]{border-color:#b91c1c}
.err{color:#b91c1c;font-weight:600;margin:6px 0 0}
.err:empty{display:none}
button{display:block;width:100%;min-height:48px;padding:12px 16px;font:inherit;font-weight:700;color:#fff;background:#1d4ed8;border:0;border-radius:8px;cursor:pointer}
button:hover{background:#1e40af}
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
input:focus-visible,select:focus-visible{outline:3px solid #1d4ed8;outline-offset:1px;border-color:#1d4ed8}
.summary{border:2px solid #b91c1c;border-radius:8px;padding:12px 14px;margin:0 0 18px}
.summary h2{font-size:1.0625rem;margin:0 0 6px}
.summary ul{margin:0;padding-left:20px}
.summary a{color:#b91c1c;font-weight:600}
.done{border-left:4px solid #047857;padding-left:12px}
.code{color:#4b5563;font-size:.875rem;margin:12px 0 0}
@media (min-width:640px){main{padding:40px 24px}.card{padding:28px 32px}}
`;

function page(nonce: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body>
<main><div class="card">
${body}
</div></main>
</body>
</html>`;
}

/** What a person reads for each problem; the widget's English wording. */
function errorText(error: FieldError, field: FormFieldSpec): string {
  switch (error) {
    case 'required':
      return field.type === 'select' ? 'Choose an option.' : 'This field is required.';
    case 'tooShort':
      return `Use at least ${field.minSize ?? 1} characters.`;
    case 'tooLong':
      return `Use at most ${field.maxSize ?? DEFAULT_MAX_SIZE} characters.`;
    case 'email':
      return 'Enter a valid email address.';
    case 'option':
      return 'Choose one of the options.';
  }
}

/** Field ids are positional: a field's `name` is the business's free text and need not be a valid id. */
const fieldId = (i: number) => `field-${i}`;

function control(field: FormFieldSpec, i: number, value: string, error: FieldError | undefined): string {
  const id = fieldId(i);
  const aria = `aria-describedby="${id}-error"${error ? ' aria-invalid="true"' : ''}`;
  const name = escapeHtml(field.name);
  if (field.type === 'select') {
    const options = (field.options ?? [])
      .map((o) => `<option value="${escapeHtml(o.name)}"${o.name === value ? ' selected' : ''}>${escapeHtml(o.label)}</option>`)
      .join('');
    return `<select id="${id}" name="${name}" required ${aria}><option value="">${escapeHtml(field.placeholder ?? 'Choose…')}</option>${options}</select>`;
  }
  const attrs = [
    `id="${id}"`,
    `name="${name}"`,
    `type="${field.type === 'email' ? 'email' : 'text'}"`,
    `value="${escapeHtml(value)}"`,
    'required',
    `maxlength="${field.maxSize ?? DEFAULT_MAX_SIZE}"`,
    ...(field.type === 'text' && field.minSize ? [`minlength="${field.minSize}"`] : []),
    ...(field.placeholder ? [`placeholder="${escapeHtml(field.placeholder)}"`] : []),
    // A number keyboard where the contract says the answer is a number; the rules themselves are the widget's.
    ...(field.format === 'integer' ? ['inputmode="numeric"'] : field.format === 'decimal' ? ['inputmode="decimal"'] : []),
    `autocomplete="${field.type === 'email' ? 'email' : field.name === 'name' ? 'name' : 'off'}"`,
    aria,
  ];
  return `<input ${attrs.join(' ')}>`;
}

export interface FormView {
  text?: string;
  fields: readonly FormFieldSpec[];
  values: FormValues;
  errors: Record<string, FieldError>;
}

/** The form, filled with `values`; with errors, a summary on top that takes the focus and links to each field. */
export function formPage(nonce: string, view: FormView): string {
  const failed = view.fields.map((f, i) => ({ f, i, error: view.errors[f.name] })).filter((x) => x.error);
  const summary = failed.length
    ? `<div class="summary" role="alert" aria-labelledby="summary-title" tabindex="-1" autofocus>
<h2 id="summary-title">Please check ${failed.length === 1 ? 'this answer' : `these ${failed.length} answers`}</h2>
<ul>${failed.map(({ f, i, error }) => `<li><a href="#${fieldId(i)}">${escapeHtml(f.label)}: ${escapeHtml(errorText(error!, f))}</a></li>`).join('')}</ul>
</div>`
    : '';
  const fields = view.fields
    .map((f, i) => {
      const error = view.errors[f.name];
      return `<div class="field">
<label for="${fieldId(i)}">${escapeHtml(f.label)}</label>
${control(f, i, view.values[f.name] ?? '', error)}
<p class="err" id="${fieldId(i)}-error">${error ? escapeHtml(errorText(error, f)) : ''}</p>
</div>`;
    })
    .join('\n');
  const title = failed.length ? 'Error: Fill in the form' : 'Fill in the form';
  return page(
    nonce,
    title,
    `<h1>Fill in the form</h1>
${view.text ? `<p class="intro">${escapeHtml(view.text)}</p>` : ''}
${summary}
<form method="post" novalidate>
${fields}
<button type="submit">Send</button>
</form>`,
  );
}

/** A page with one message: the form was sent, was already answered, or the link cannot be used. */
export function messagePage(nonce: string, title: string, text: string, opts: { done?: boolean; code?: string } = {}): string {
  return page(
    nonce,
    title,
    `<div${opts.done ? ' class="done"' : ''} role="status">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(text)}</p>
</div>${opts.code ? `\n<p class="code">Error code: ${escapeHtml(opts.code)}</p>` : ''}`,
  );
}
