/**
 * The one set of rules a person's answers to a `form` must pass, and the
 * `formResponse` they become: the Web Messenger checks them in the browser
 * before sending, the hosted form page (src/pages/form-page.ts) checks them in
 * the Worker for channels without native forms. One implementation, so a form
 * accepts and refuses the same answers wherever it is filled in. Pure and free
 * of Worker and DOM types: the widget bundle imports it too.
 */

/** A form field as the contract defines it (what both sides read of it). */
export interface FormFieldSpec {
  type: 'text' | 'email' | 'select';
  name: string;
  label: string;
  placeholder?: string;
  minSize?: number;
  maxSize?: number;
  options?: { label: string; name: string }[];
  format?: 'integer' | 'decimal';
}

/** What is wrong with an answer: missing, shorter than minSize, longer than maxSize, not an email, not one of a select's options. */
export type FieldError = 'required' | 'tooShort' | 'tooLong' | 'email' | 'option';
/** Answers by field name, as typed (select: the chosen option's name). */
export type FormValues = Record<string, string>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** The longest text answer where a field names no maxSize: the contract's formResponse `text` limit. */
export const DEFAULT_MAX_SIZE = 256;

/** The first problem with each field, by field name; empty when the form can be sent. Every field is required, as in the v2 form. */
export function validateForm(fields: readonly FormFieldSpec[], values: FormValues): Record<string, FieldError> {
  const errors: Record<string, FieldError> = {};
  for (const f of fields) {
    const value = (values[f.name] ?? '').trim();
    if (!value) errors[f.name] = 'required';
    else if (f.type === 'email' && !EMAIL.test(value)) errors[f.name] = 'email';
    // A browser can post any value; the widget's own select only offers the options, so there this never fires.
    else if (f.type === 'select' && !(f.options ?? []).some((o) => o.name === value)) errors[f.name] = 'option';
    else if (f.type !== 'select' && f.minSize !== undefined && value.length < f.minSize) errors[f.name] = 'tooShort';
    else if (f.type !== 'select' && value.length > (f.maxSize ?? DEFAULT_MAX_SIZE)) errors[f.name] = 'tooLong';
  }
  return errors;
}

/** One typed answer of a formResponse. */
export interface FormAnswer {
  type: 'text' | 'email' | 'select';
  name: string;
  label: string;
  text?: string;
  email?: string;
  select?: { label: string; name: string }[];
}

/** The formResponse content answering `fields`; `quotedMessageId` names the form message (none for prechat). */
export function buildFormResponse(
  fields: readonly FormFieldSpec[],
  values: FormValues,
  quotedMessageId?: string,
): { type: 'formResponse'; quotedMessageId?: string; fields: FormAnswer[] } {
  const answers: FormAnswer[] = fields.map((f) => {
    const value = (values[f.name] ?? '').trim();
    const base = { type: f.type, name: f.name, label: f.label };
    if (f.type === 'email') return { ...base, email: value };
    if (f.type === 'select') {
      const option = (f.options ?? []).find((o) => o.name === value);
      return { ...base, select: option ? [{ label: option.label, name: option.name }] : [] };
    }
    return { ...base, text: value };
  });
  return { type: 'formResponse', ...(quotedMessageId ? { quotedMessageId } : {}), fields: answers };
}

/** A formResponse's `textFallback`: one "label: value" line per answer, as the SDK route stores it. */
export function formResponseText(fields: readonly Pick<FormAnswer, 'label' | 'text' | 'email' | 'select'>[]): string {
  return fields.map((f) => `${f.label}: ${f.text ?? f.email ?? (f.select ?? []).map((s) => s.label).join(', ')}`).join('\n');
}
