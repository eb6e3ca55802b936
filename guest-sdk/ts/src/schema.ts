/**
 * JSON schemas that carry their TypeScript type, and JSON checked against
 * them.
 *
 * A schema built here is a plain JSON Schema object (it is what the model is
 * sent) whose TypeScript type remembers the type of the values it accepts:
 * `Infer<typeof schema>`. Tools take their arguments' type from their
 * `parameters` schema, and structured output its answer's type from the
 * `output` schema, so a wrong field is a compile error; {@link parse} checks
 * what the model sends back against the schema before any code sees it.
 *
 * ```ts
 * import { s } from "relive-sdk";
 *
 * const Triage = s.object({
 *   category: s.enum(["billing", "bug", "question", "other"], "what the ticket is about"),
 *   priority: s.enum(["low", "normal", "urgent"]),
 *   summary: s.string("the problem in one sentence"),
 *   tags: s.optional(s.array(s.string())),
 * }, { title: "Triage" });
 * type Triage = s.Infer<typeof Triage>;
 * // { category: "billing" | ...; priority: ...; summary: string; tags?: string[] }
 * const triage: Triage = s.parse(Triage, JSON.parse(text)); // throws s.ValidationError
 * ```
 *
 * The JSON Schema keywords understood by {@link parse}: `type` (one or a
 * list), `enum`, `const`, `anyOf`, `oneOf`, `properties`, `required`,
 * `additionalProperties`, `items`; others (`description`, `format`,
 * `minimum`, ...) are passed to the model and not checked. A hand-written
 * schema gets a type with {@link jsonSchema}.
 *
 * @module
 */

declare const valueType: unique symbol;
const OPTIONAL: unique symbol = Symbol('relive-sdk optional property');

/** A JSON value. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A JSON Schema document, as an object. */
export interface JsonSchema {
  readonly [keyword: string]: unknown;
}

/**
 * A JSON Schema whose values have the TypeScript type `T`. The type exists
 * only for the compiler: at run time this is the plain schema object.
 */
export type Schema<T> = JsonSchema & { readonly [valueType]: T };

/** A schema marked by {@link optional}: its property may be absent. */
export type OptionalSchema<T> = Schema<T> & { readonly [OPTIONAL]: true };

/** The type of the values a schema accepts. */
export type Infer<S> = S extends { readonly [valueType]: infer T } ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type AnySchema = Schema<any>;
type RequiredKeys<P> = { [K in keyof P]: P[K] extends { readonly [OPTIONAL]: true } ? never : K }[keyof P];
type OptionalKeys<P> = Exclude<keyof P, RequiredKeys<P>>;
/** The object type of a property map. */
export type ObjectOf<P extends Record<string, AnySchema>> = Simplify<
  { [K in RequiredKeys<P>]: Infer<P[K]> } & { [K in OptionalKeys<P>]?: Infer<P[K]> }
>;

function make<T>(schema: Record<string, unknown>, description: string | undefined): Schema<T> {
  if (description !== undefined) schema['description'] = description;
  return schema as unknown as Schema<T>;
}

/** A string. */
export function string(description?: string): Schema<string> {
  return make({ type: 'string' }, description);
}

/** A number (an integer is one too). */
export function number(description?: string): Schema<number> {
  return make({ type: 'number' }, description);
}

/** An integer. */
export function integer(description?: string): Schema<number> {
  return make({ type: 'integer' }, description);
}

/** `true` or `false`. */
export function boolean(description?: string): Schema<boolean> {
  return make({ type: 'boolean' }, description);
}

/** `null`. */
export function nullValue(description?: string): Schema<null> {
  return make({ type: 'null' }, description);
}

/** Any JSON value. */
export function any(description?: string): Schema<Json> {
  return make({}, description);
}

/** One of the given strings (or numbers, or booleans): `s.enum(["low", "high"])`. */
function enumOf<const V extends readonly (string | number | boolean)[]>(
  values: V,
  description?: string,
): Schema<V[number]> {
  if (values.length === 0) throw new TypeError('s.enum: give at least one value');
  const kinds = new Set(values.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? 'number' : typeof v)));
  const type = kinds.size === 1 ? [...kinds][0] : undefined;
  return make(type === undefined ? { enum: [...values] } : { type, enum: [...values] }, description);
}
export { enumOf as enum };

/** Exactly `value`. */
export function literal<const V extends string | number | boolean | null>(value: V, description?: string): Schema<V> {
  return make({ const: value }, description);
}

/** An array of `items`. */
export function array<S extends AnySchema>(items: S, description?: string): Schema<Infer<S>[]> {
  return make({ type: 'array', items }, description);
}

/** Options of {@link object}. */
export interface ObjectOptions {
  /** The name of the type: shown to the model and in validation errors. */
  title?: string;
  description?: string;
}

/**
 * An object with these properties, each required unless wrapped in
 * {@link optional}; other properties are refused
 * (`additionalProperties: false`).
 */
export function object<P extends Record<string, AnySchema>>(
  properties: P,
  options?: ObjectOptions | string,
): Schema<ObjectOf<P>> {
  const opts: ObjectOptions = typeof options === 'string' ? { description: options } : (options ?? {});
  const schema: Record<string, unknown> = {};
  if (opts.title !== undefined) schema['title'] = opts.title;
  if (opts.description !== undefined) schema['description'] = opts.description;
  schema['type'] = 'object';
  schema['properties'] = properties;
  schema['required'] = Object.keys(properties).filter((k) => !isOptional(properties[k]));
  schema['additionalProperties'] = false;
  return schema as unknown as Schema<ObjectOf<P>>;
}

/** An object whose keys are any strings and whose values are `values`. */
export function record<S extends AnySchema>(values: S, description?: string): Schema<Record<string, Infer<S>>> {
  return make({ type: 'object', additionalProperties: values }, description);
}

/** The property may be absent from its {@link object}. */
export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  const copy: Record<string | symbol, unknown> = { ...schema };
  Object.defineProperty(copy, OPTIONAL, { value: true, enumerable: false });
  return copy as unknown as OptionalSchema<T>;
}

/** `schema`'s values, or `null`. */
export function nullable<T>(schema: Schema<T>): Schema<T | null> {
  return make({ anyOf: [schema, { type: 'null' }] }, undefined);
}

/** A value of any of `schemas`. */
export function union<S extends AnySchema[]>(...schemas: S): Schema<Infer<S[number]>> {
  return make({ anyOf: schemas }, undefined);
}

/**
 * A hand-written JSON Schema, declared to accept values of type `T` (the
 * compiler does not check that the two agree; {@link parse} checks values
 * against the schema).
 */
export function jsonSchema<T>(schema: JsonSchema): Schema<T> {
  return schema as Schema<T>;
}

function isOptional(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && (schema as Record<symbol, unknown>)[OPTIONAL] === true;
}

/** One mismatch: where (`items[2].score`, empty for the value itself) and what. */
export interface Problem {
  path: string;
  message: string;
}

/**
 * A JSON value does not match its schema. `problems` lists every mismatch;
 * `message` joins them, one a line (`` `priority`: expected one of "low",
 * "normal", "urgent", got "high" ``): the text a model gets back when its
 * answer does not validate.
 */
export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly problems: Problem[];

  constructor(problems: Problem[]) {
    super(problems.map((p) => (p.path ? `\`${p.path}\`: ${p.message}` : p.message)).join('\n'));
    this.problems = problems;
  }
}

/**
 * Checks the JSON value `value` against `schema` and returns it, typed.
 *
 * @throws {ValidationError} naming every mismatch.
 */
export function parse<T>(schema: Schema<T>, value: unknown): T {
  const problems: Problem[] = [];
  check(schema, value, '', problems);
  if (problems.length > 0) throw new ValidationError(problems);
  return value as T;
}

/** The mismatches of `value` against `schema` (empty when it matches). */
export function problemsOf(schema: JsonSchema, value: unknown): Problem[] {
  const problems: Problem[] = [];
  check(schema, value, '', problems);
  return problems;
}

function check(schema: unknown, value: unknown, path: string, problems: Problem[]): void {
  if (schema === true || schema === undefined) return;
  if (schema === false) {
    problems.push({ path, message: 'is not allowed' });
    return;
  }
  if (typeof schema !== 'object' || schema === null) return;
  const s = schema as Record<string, unknown>;
  const fail = (expected: string): void => {
    problems.push({ path, message: `expected ${expected}, got ${show(value)}` });
  };

  const alternatives = (s['anyOf'] ?? s['oneOf']) as unknown[] | undefined;
  if (Array.isArray(alternatives)) {
    const nonNull = alternatives.filter((a) => !isNullSchema(a));
    if (value !== null && nonNull.length === 1 && alternatives.length === 2) {
      check(nonNull[0], value, path, problems); // nullable(X): report X's problems
      return;
    }
    if (!alternatives.some((a) => problemsOf(a as JsonSchema, value).length === 0)) {
      fail(alternatives.map(describe).join(' or '));
      return;
    }
  }
  if ('const' in s && !sameJson(s['const'], value)) {
    fail(show(s['const']));
    return;
  }
  const choices = s['enum'];
  if (Array.isArray(choices)) {
    if (!choices.some((c) => sameJson(c, value))) fail(`one of ${choices.map(show).join(', ')}`);
    return;
  }
  const type = s['type'];
  if (type !== undefined) {
    const types = Array.isArray(type) ? (type as string[]) : [type as string];
    if (!types.some((t) => hasType(t, value))) {
      const title = typeof s['title'] === 'string' ? ` (${s['title']})` : '';
      fail(types.map((t) => TYPE_NAMES[t] ?? t).join(' or ') + (types.length === 1 && types[0] === 'object' ? title : ''));
      return;
    }
  }
  if (Array.isArray(value)) {
    const items = s['items'];
    if (items !== undefined) value.forEach((v, i) => check(items, v, `${path}[${i}]`, problems));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    const properties = (s['properties'] ?? {}) as Record<string, unknown>;
    const required = (s['required'] ?? []) as string[];
    const object = value as Record<string, unknown>;
    // In the schema's order, as the Python SDK reports a dataclass's fields.
    for (const name of new Set([...Object.keys(properties), ...required])) {
      if (name in object) {
        if (name in properties) check(properties[name], object[name], join(path, name), problems);
      } else if (required.includes(name)) {
        problems.push({ path: join(path, name), message: 'is required but missing' });
      }
    }
    const additional = s['additionalProperties'];
    for (const [name, v] of Object.entries(object)) {
      if (name in properties) continue;
      if (additional === false) {
        const known = Object.keys(properties).join(', ') || 'none';
        problems.push({ path: join(path, name), message: `is not a property (properties: ${known})` });
      } else if (additional !== undefined) {
        check(additional, v, join(path, name), problems);
      }
    }
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  null: 'null',
  array: 'an array',
  object: 'an object',
};

function hasType(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return true;
  }
}

function isNullSchema(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && (schema as Record<string, unknown>)['type'] === 'null';
}

function describe(schema: unknown): string {
  if (typeof schema !== 'object' || schema === null) return 'anything';
  const s = schema as Record<string, unknown>;
  if ('const' in s) return show(s['const']);
  if (Array.isArray(s['enum'])) return `one of ${(s['enum'] as unknown[]).map(show).join(', ')}`;
  const type = s['type'];
  if (typeof type === 'string') return TYPE_NAMES[type] ?? type;
  if (Array.isArray(type)) return (type as string[]).map((t) => TYPE_NAMES[t] ?? t).join(' or ');
  return 'a value';
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** A value as it is shown in a validation error: JSON, cut at 80 characters. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
