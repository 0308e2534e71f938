/**
 * valibot → JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) through
 * @valibot/to-json-schema, so the document and the parser at the edge read the
 * same schemas. Requests are described by their input type (what a caller
 * sends: `page[size]` is a string before it becomes a number); checks that
 * JSON Schema cannot say (`v.check`, transforms) are left out, and the
 * schemas' own error messages say them at run time. Named schemas become
 * `#/components/schemas/…` and every other use of them a `$ref`.
 */
import * as v from 'valibot';
import { toJsonSchema, toJsonSchemaDefs, type ConversionConfig, type JsonSchema } from '@valibot/to-json-schema';

export type Schema = v.GenericSchema;
export type Json = Record<string, unknown>;

const REF = '#/components/schemas/';

function config(named: Record<string, Schema>): ConversionConfig {
  return {
    target: 'draft-2020-12',
    typeMode: 'input',
    errorMode: 'ignore',
    definitions: named,
    overrideRef: ({ referenceId }) => REF + referenceId,
  };
}

/** `$defs` and `$schema` belong to standalone schemas; inside the document the definitions live under components. */
function strip(schema: JsonSchema): Json {
  const { $defs: _defs, $schema: _schema, ...rest } = schema as Json;
  return rest;
}

export interface Converter {
  /** A schema inline, with `$ref`s to any named schema it uses. */
  toSchema(schema: Schema): Json;
  /** The named schemas, for `components.schemas`. */
  components(): Record<string, Json>;
}

export function converter(named: Record<string, Schema>): Converter {
  const cfg = config(named);
  return {
    toSchema: (schema) => strip(toJsonSchema(schema, cfg)),
    components: () => {
      const { definitions: _d, ...rest } = cfg;
      const defs = toJsonSchemaDefs(named, rest);
      return Object.fromEntries(Object.entries(defs).map(([k, s]) => [k, strip(s)]));
    },
  };
}

/**
 * A query schema (an object, maybe in a pipe with checks) as OpenAPI query
 * parameters: one per property, `required` where the schema needs it.
 * Bracketed names (`filter[userId]`, `page[after]`) are names as sent.
 */
export function queryParameters(schema: Schema, conv: Converter): Json[] {
  const json = conv.toSchema(schema);
  const props = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: 'query', required: required.has(name), schema: rest, ...(description ? { description } : {}) };
  });
}
