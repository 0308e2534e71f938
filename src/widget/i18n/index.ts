/**
 * Picks the widget's language: the locale given to init, else the browser's
 * preferred languages, else English. Adding a language is one table module and
 * one line in TABLES.
 */
import { en, type Strings } from './en';
import { fr } from './fr';

export type { Strings };
export type Language = 'en' | 'fr';

const TABLES: Record<Language, Strings> = { en, fr };

/** The first supported primary language subtag among `requested` then `preferred` ("fr-CA" → fr). */
export function pickLanguage(requested: string | undefined, preferred: readonly string[]): Language {
  for (const tag of [requested, ...preferred]) {
    const primary = tag?.toLowerCase().split(/[-_]/)[0];
    if (primary && primary in TABLES) return primary as Language;
  }
  return 'en';
}

export function stringsFor(language: Language): Strings {
  return TABLES[language];
}

/** Fills `{name}` placeholders; a missing value leaves the placeholder visible rather than printing "undefined". */
export function format(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in values ? String(values[key]) : whole));
}
