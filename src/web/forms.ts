/**
 * Whether a Web Messenger form response answers the form it names: every
 * field of the form, each with the form's type, select choices among the
 * form's options. The business's bot acts on these answers, so a browser
 * must not be able to invent fields or options.
 */
interface FormField {
  type: string;
  name: string;
  options?: { name: string }[];
}

interface ResponseField {
  type: string;
  name: string;
  text?: string;
  email?: string;
  select?: { name: string }[];
}

/** Undefined when the response fits the form, else what is wrong, as a v2 error title. */
export function formResponseProblem(form: readonly FormField[], response: readonly ResponseField[]): string | undefined {
  const byName = new Map(form.map((f) => [f.name, f]));
  const answered = new Set<string>();
  for (const [i, field] of response.entries()) {
    const asked = byName.get(field.name);
    if (!asked) return `content.fields[${i}].name: the form has no field ${field.name}`;
    if (asked.type !== field.type) return `content.fields[${i}].type: the form's field ${field.name} is a ${asked.type} field`;
    if (answered.has(field.name)) return `content.fields[${i}].name: ${field.name} is answered twice`;
    answered.add(field.name);
    const value = field.type === 'text' ? field.text : field.type === 'email' ? field.email : field.select?.length ? 'chosen' : undefined;
    if (!value) return `content.fields[${i}]: the ${field.type} answer to ${field.name} is missing`;
    if (field.type === 'select') {
      const options = new Set((asked.options ?? []).map((o) => o.name));
      const unknown = field.select!.find((s) => !options.has(s.name));
      if (unknown) return `content.fields[${i}].select: ${unknown.name} is not one of the field's options`;
    }
  }
  const missing = form.find((f) => !answered.has(f.name));
  return missing ? `content.fields: the form's field ${missing.name} is not answered` : undefined;
}

/** The fields a prechat form asks when the integration names none (what the widget shows). */
export const DEFAULT_PRECHAT_FIELDS: FormField[] = [
  { type: 'text', name: 'name' },
  { type: 'email', name: 'email' },
];
