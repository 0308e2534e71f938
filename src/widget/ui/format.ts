/** Times and day separators in the widget's language, from the messages' ISO `received`. */
import type { Strings } from '../i18n';

/** The local calendar day of an instant: messages with the same key share a day separator. */
export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(iso: string, now: Date, t: Strings, lang: string): string {
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return t.today;
  if (key === dayKey(new Date(now.getTime() - 86_400_000).toISOString())) return t.yesterday;
  const d = new Date(iso);
  const sameYear = d.getFullYear() === now.getFullYear();
  return d.toLocaleDateString(lang, { weekday: 'long', month: 'long', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }) });
}

export function timeLabel(iso: string, lang: string): string {
  return new Date(iso).toLocaleTimeString(lang, { hour: 'numeric', minute: '2-digit' });
}
