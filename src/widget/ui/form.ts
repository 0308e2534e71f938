/**
 * A form's native inputs, shared by business `form` messages and the prechat
 * capture: labelled text, email and select fields, validated with the pure
 * rules of ../content on submit, errors announced next to their field.
 */
import { validateForm, type FieldError, type FormValues } from '../content';
import { format, type Strings } from '../i18n';
import type { FormField } from '../types';
import { h, icon } from './dom';

export interface FormSpec {
  fields: FormField[];
  text?: string;
  submitted: boolean;
  /** Draft values, kept by the caller so a re-render doesn't lose what was typed. */
  values: FormValues;
  submitLabel: string;
  onSubmit(values: FormValues): void;
}

let nextId = 0;

function errorText(t: Strings, error: FieldError, field: FormField): string {
  if (error === 'tooShort') return format(t.tooShort, { n: field.minSize ?? 1 });
  if (error === 'tooLong') return format(t.tooLong, { n: field.maxSize ?? 256 });
  return error === 'email' ? t.email : t.required;
}

export function renderForm(spec: FormSpec, t: Strings): HTMLElement {
  const form = h('form', { class: 'form', novalidate: true, 'data-testid': 'form' }, spec.text && h('p', {}, spec.text));
  if (spec.submitted) {
    form.append(h('div', { class: 'done', 'data-testid': 'form-submitted' }, icon('check'), t.submitted));
    return form;
  }
  const controls = new Map<string, { input: HTMLInputElement | HTMLSelectElement; error: HTMLElement; field: FormField }>();
  for (const field of spec.fields) {
    const errorId = `p-err-${++nextId}`;
    const common = {
      name: field.name,
      'aria-describedby': errorId,
      onInput: (ev: Event) => (spec.values[field.name] = (ev.target as HTMLInputElement).value),
      onChange: (ev: Event) => (spec.values[field.name] = (ev.target as HTMLSelectElement).value),
    };
    const input =
      field.type === 'select'
        ? h('select', common, h('option', { value: '' }, field.placeholder ?? '—'), ...(field.options ?? []).map((o) => h('option', { value: o.name }, o.label)))
        : h('input', {
            ...common,
            type: field.type === 'email' ? 'email' : 'text',
            autocomplete: field.type === 'email' ? 'email' : field.name === 'name' ? 'name' : 'off',
            placeholder: field.placeholder,
            maxlength: field.maxSize ?? 256,
          });
    input.value = spec.values[field.name] ?? '';
    const error = h('span', { class: 'err', id: errorId, 'aria-live': 'polite' });
    controls.set(field.name, { input, error, field });
    form.append(h('label', {}, field.label, input, error));
  }
  form.append(h('button', { class: 'btn primary', type: 'submit' }, spec.submitLabel));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const errors = validateForm(spec.fields, spec.values);
    let first: HTMLElement | undefined;
    for (const [name, c] of controls) {
      const problem = errors[name];
      c.error.textContent = problem ? errorText(t, problem, c.field) : '';
      c.input.setAttribute('aria-invalid', String(!!problem));
      if (problem) first ??= c.input;
    }
    if (first) first.focus();
    else spec.onSubmit({ ...spec.values });
  });
  return form;
}
