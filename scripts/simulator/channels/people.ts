/**
 * Names and numbers for simulated people. Ids are derived from what the user
 * typed, so "Ann" is the same Telegram user (and the same Parley user) on
 * every run, even though the fakes forget everything when they stop.
 */
import type { SimUser } from './types';

/** FNV-1a, 32 bits: small, stable, good enough to spread names over an id range. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const ch of text) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const PHONE = /^\+?\d{7,15}$/;

/**
 * A phone user: a typed number is used as is (E.164 with `+`), a name gets a
 * stable number in the 555 range and keeps the name for channels that show one.
 */
export function phoneUser(input: string, fallback: string): SimUser {
  const typed = input.trim() || fallback;
  const compact = typed.replace(/[\s().-]/g, '');
  if (PHONE.test(compact)) {
    const number = compact.startsWith('+') ? compact : `+${compact}`;
    return { key: number, label: number };
  }
  const number = `+1555${String(hash(typed) % 10_000_000).padStart(7, '0')}`;
  return { key: number, label: `${typed} (${number})`, name: typed };
}

/** A user known by name only; `digits` is the length of the derived numeric id. */
export function namedUser(input: string, fallback: string, digits: number): SimUser {
  const name = input.trim() || fallback;
  const spread = String(hash(name)).padStart(10, '0') + String(hash(`${name}#`)).padStart(10, '0');
  return { key: `${1 + (hash(name) % 9)}${spread}`.slice(0, digits), label: name, name };
}
