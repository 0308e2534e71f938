/**
 * `maskCreditCardNumbers` (an app setting, on by default): payment card
 * numbers a person types into a conversation are masked before anything is
 * stored, so neither the history, the index, the webhooks nor the exports
 * ever hold one. A card number is written as 13 to 19 digits in a row, or in
 * groups of four (the last one shorter), or as Amex's 4-6-5 or Diners'
 * 4-6-4, with spaces or dashes between groups, standing alone (nothing
 * id-like or URL-like touching it: UUIDs and links are left alone); it counts
 * only if it starts as a card network's numbers do and passes the Luhn check,
 * which keeps order numbers, years and phone numbers intact. All but its last
 * four digits become `*`.
 */
import type { Message } from '../schema/message';

const CANDIDATE = /(?<![\w\-/=.:#?&@])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5})(?![\w\-/=])/g;
/** Issuer prefixes: Visa, Mastercard (51–55, 2221–2720), Amex, Diners, Discover, JCB, UnionPay. */
const NETWORK = /^(?:4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|30[0-5]|3[689]|6(?:011|5|4[4-9]|22)|35|62)/;

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function maskCardNumbers(text: string): string {
  return text.replace(CANDIDATE, (run) => {
    const digits = run.replace(/[ -]/g, '');
    if (digits.length < 13 || digits.length > 19 || !NETWORK.test(digits) || !luhnValid(digits)) return run;
    let keep = 4;
    // Walk from the end so the last four digits stay and separators keep their places.
    return [...run]
      .reverse()
      .map((ch) => (ch >= '0' && ch <= '9' ? (keep-- > 0 ? ch : '*') : ch))
      .reverse()
      .join('');
  });
}

/** The content with every text a person wrote masked (text, and a form response's answers). */
export function maskContent<C extends Message['content']>(content: C): C {
  const masked: Record<string, unknown> = { ...content };
  if (typeof masked.text === 'string') masked.text = maskCardNumbers(masked.text);
  if (typeof masked.textFallback === 'string') masked.textFallback = maskCardNumbers(masked.textFallback);
  if (Array.isArray(masked.fields)) masked.fields = masked.fields.map((f: Record<string, unknown>) => (typeof f.text === 'string' ? { ...f, text: maskCardNumbers(f.text) } : f));
  return masked as C;
}
