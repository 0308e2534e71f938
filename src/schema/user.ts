/** Users: request bodies for create and update, and the profile shape. */
import * as v from 'valibot';
import { boundedString, isoDate, metadata, uri } from './common';

const nullableText = (max: number) => v.optional(v.nullable(boundedString(1, max)));

export const profile = v.object({
  givenName: nullableText(128),
  surname: nullableText(128),
  email: v.optional(v.nullable(v.pipe(boundedString(1, 128), v.email('must be an email address')))),
  avatarUrl: v.optional(v.nullable(uri())),
  locale: v.optional(v.nullable(v.pipe(boundedString(1, 64), v.regex(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/, 'must be a BCP 47 language tag such as en-US')))),
});
export type Profile = v.InferOutput<typeof profile>;

export const userCreateBody = v.object({
  externalId: v.optional(boundedString(1, 1024)),
  signedUpAt: v.optional(isoDate),
  toBeRetained: v.optional(v.boolean('must be a boolean')),
  profile: v.optional(profile),
  metadata: v.optional(metadata),
});

export const userUpdateBody = v.object({
  signedUpAt: v.optional(isoDate),
  toBeRetained: v.optional(v.boolean('must be a boolean')),
  profile: v.optional(profile),
  metadata: v.optional(metadata),
});

export type Identity = { type: string; value: string; verification?: string };
