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

/** `count` hex digits derived from `name`: the same on every run. */
function hexOf(name: string, count: number): string {
  let out = '';
  for (let i = 0; out.length < count; i++) out += hash(`${name}#${i}`).toString(16).padStart(8, '0');
  return out.slice(0, count);
}

/** A LINE user known by name: LINE's id is U and 32 hex digits, derived from the name. */
export function lineUser(input: string, fallback: string): SimUser {
  const name = input.trim() || fallback;
  return { key: `U${hexOf(name, 32)}`, label: name, name };
}

/** A Viber user known by name: Viber's ids are short base64 strings (`01234567890A=`), derived from the name. */
export function viberUser(input: string, fallback: string): SimUser {
  const name = input.trim() || fallback;
  return { key: Buffer.from(hexOf(name, 16), 'hex').toString('base64'), label: name, name };
}

const ADDRESS = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

/**
 * An email user: a typed address (bare or `Name <address>`) is used as is,
 * lowercased as Parley keys users by it; a name gets an address at example.net and keeps the name as
 * the mail's display name.
 */
export function emailUser(input: string, fallback: string): SimUser {
  const typed = input.trim() || fallback;
  if (ADDRESS.test(typed)) return { key: typed.toLowerCase(), label: typed.toLowerCase() };
  const angled = /^"?([^"<]*?)"?\s*<([^<>]+)>$/.exec(typed);
  if (angled && ADDRESS.test(angled[2]!)) {
    const address = angled[2]!.toLowerCase();
    return angled[1] ? { key: address, label: `${angled[1]} (${address})`, name: angled[1] } : { key: address, label: address };
  }
  const local = typed.toLowerCase().replace(/[^a-z0-9]+/g, '.').replace(/^\.+|\.+$/g, '') || `user${hash(typed) % 10_000}`;
  const address = `${local}@example.net`;
  return { key: address, label: `${typed} (${address})`, name: typed };
}

/** A WeChat user known by name: an openid (o and 27 base64url characters, per official account), derived from the name. */
export function wechatUser(input: string, fallback: string): SimUser {
  const name = input.trim() || fallback;
  // WeChat callbacks carry no name: the label is only the simulator's.
  return { key: `o${Buffer.from(hexOf(name, 42), 'hex').toString('base64url').slice(0, 27)}`, label: name };
}

/** An Apple Messages for Business customer known by name: Apple's opaque source-id (`urn:mbid:` and base64), derived from the name. */
export function appleUser(input: string, fallback: string): SimUser {
  const name = input.trim() || fallback;
  // Apple sends no name either.
  return { key: `urn:mbid:${Buffer.from(`0100${hexOf(name, 60)}`, 'hex').toString('base64')}`, label: name };
}
