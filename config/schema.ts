/**
 * A small JSON Schema validator for the subset cco-es's schemas use, so
 * that one schema document is both what validates a value and what the
 * documentation (or an OpenAPI description) shows. Errors are one line,
 * naming the JSON path of the value at fault.
 *
 * Supported keywords: `type` (one or several of `null`, `boolean`,
 * `integer`, `number`, `string`, `array`, `object`), `enum`, `const`,
 * `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
 * `minLength`, `maxLength`, `pattern`, `items`, `minItems`, `maxItems`,
 * `properties`, `required`, `additionalProperties` (a boolean or a
 * schema), `propertyNames`, `oneOf`, `anyOf`, and `$ref` to `#/$defs/...`.
 * Annotations (`description`, `title`, `default`, `examples`, `$id`,
 * `$schema`) are ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemaErrors } from "./schema.ts";
 *
 * const schema = {
 *   type: "object",
 *   additionalProperties: false,
 *   properties: { num: { type: "integer", minimum: 1 } },
 * };
 * assert.deepEqual(schemaErrors(schema, { num: 3 }, "request"), []);
 * assert.deepEqual(schemaErrors(schema, { num: 0, x: 1 }, "request"), [
 *   "request.num must be >= 1, got 0",
 *   "request has an unknown key \"x\" (known: num)",
 * ]);
 * ```
 *
 * @module
 */

/** A JSON Schema (the subset above), as parsed JSON. */
export type JsonSchema = { [key: string]: unknown } | boolean;

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") {
    // JSON has no NaN or Infinity: a library caller's must not pass either
    if (!Number.isFinite(v)) return "non-finite";
    return Number.isInteger(v) ? "integer" : "number";
  }
  return typeof v;
}

function matchesType(v: unknown, type: string): boolean {
  const t = typeOf(v);
  if (type === "number") return t === "number" || t === "integer";
  return t === type;
}

const article = (type: string) =>
  /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;

function show(v: unknown): string {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  const text = JSON.stringify(v);
  return text === undefined
    ? String(v)
    : text.length > 60
    ? `${text.slice(0, 57)}...`
    : text;
}

function key(path: string, name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(name)
    ? `${path}.${name}`
    : `${path}[${JSON.stringify(name)}]`;
}

/**
 * Every reason `value` does not match `schema`, each a one-line message
 * starting with the JSON path (`root.a.b[2]`); empty when it matches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemaErrors } from "./schema.ts";
 *
 * assert.deepEqual(schemaErrors({ enum: ["a", "b"] }, "c", "x"), ['x must be one of "a", "b", got "c"']);
 * ```
 *
 * @param schema The schema (`$ref`s resolve against `root`).
 * @param value The value.
 * @param path Name of the value for messages (e.g. `cco.json`).
 * @param root The document `$ref`s point into (default `schema`).
 * @returns The messages.
 */
export function schemaErrors(
  schema: JsonSchema,
  value: unknown,
  path: string,
  root: JsonSchema = schema,
): string[] {
  return schemaIssues(schema, value, path, root).map((i) =>
    i.path ? `${i.path} ${i.reason}` : i.reason
  );
}

/** One reason a value does not match a schema. */
export interface SchemaIssue {
  /** JSON path of the value at fault (`request.filters[0].field`). */
  path: string;
  /** What is wrong with it (`must be a string, got 3`). */
  reason: string;
}

/**
 * The reasons of {@linkcode schemaErrors} with the path apart from the
 * reason, for errors that carry the path (such as `RequestError`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemaIssues } from "./schema.ts";
 *
 * assert.deepEqual(
 *   schemaIssues({ type: "object", properties: { num: { type: "integer" } } }, { num: "5" }, "request"),
 *   [{ path: "request.num", reason: 'must be an integer, got "5"' }],
 * );
 * ```
 *
 * @param schema The schema (`$ref`s resolve against `root`).
 * @param value The value.
 * @param path Name of the value for messages.
 * @param root The document `$ref`s point into (default `schema`).
 * @returns The issues, empty when the value matches.
 */
export function schemaIssues(
  schema: JsonSchema,
  value: unknown,
  path: string,
  root: JsonSchema = schema,
): SchemaIssue[] {
  const errors: SchemaIssue[] = [];
  check(schema, value, path, root, errors);
  return errors;
}

/**
 * Throws the first error of {@linkcode schemaErrors}, built by `error`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertSchema } from "./schema.ts";
 *
 * assert.throws(
 *   () => assertSchema({ type: "string" }, 3, "name", (m) => new RangeError(m)),
 *   { name: "RangeError", message: "name must be a string, got 3" },
 * );
 * ```
 *
 * @param schema The schema.
 * @param value The value.
 * @param path Name of the value for messages.
 * @param error Builds the error from the message.
 * @param root The document `$ref`s point into.
 * @throws {Error} The built error, when the value does not match.
 */
export function assertSchema(
  schema: JsonSchema,
  value: unknown,
  path: string,
  error: (message: string) => Error,
  root: JsonSchema = schema,
): void {
  const [first] = schemaErrors(schema, value, path, root);
  if (first !== undefined) throw error(first);
}

/**
 * Follows `$ref`s (`#/...` pointers into `root`) until a schema that is not
 * a reference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveSchemaRef } from "./schema.ts";
 *
 * const root = { $defs: { n: { type: "number" } } };
 * assert.deepEqual(resolveSchemaRef({ $ref: "#/$defs/n" }, root), { type: "number" });
 * assert.throws(() => resolveSchemaRef({ $ref: "#/$defs/x" }, root), /unresolved \$ref #\/\$defs\/x/);
 * ```
 *
 * @param schema A schema, maybe a `$ref`.
 * @param root The document the references point into.
 * @returns The schema referred to.
 * @throws {Error} For a reference loop, outside `root` or unresolved.
 */
export function resolveSchemaRef(
  schema: JsonSchema,
  root: JsonSchema,
): JsonSchema {
  let s = schema;
  for (let hops = 0; isObject(s) && typeof s.$ref === "string"; hops++) {
    if (hops > 32) throw new Error(`$ref loop at ${s.$ref}`);
    const ref = s.$ref as string;
    if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
    let target: unknown = root;
    for (const part of ref.slice(2).split("/")) {
      target = isObject(target) ? target[part] : undefined;
    }
    if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
    s = target as JsonSchema;
  }
  return s;
}

function check(
  raw: JsonSchema,
  v: unknown,
  path: string,
  root: JsonSchema,
  errors: SchemaIssue[],
): void {
  const schema = resolveSchemaRef(raw, root);
  if (schema === true) return;
  if (schema === false) {
    errors.push({ path, reason: `is not allowed` });
    return;
  }
  if (Array.isArray(schema.oneOf) || Array.isArray(schema.anyOf)) {
    const options = (schema.oneOf ?? schema.anyOf) as JsonSchema[];
    const results = options.map((o) => schemaIssues(o, v, path, root));
    const passing = results.filter((r) => r.length === 0).length;
    if (passing === 0) {
      // the option of the value's type, if only one has it, says it best
      const typed = options.map((o, i) =>
        [resolveSchemaRef(o, root), i] as const
      )
        .filter(([o]) =>
          isObject(o) &&
          [o.type ?? (o.enum ? "enum" : undefined)].flat().some((t) =>
            t === "enum"
              ? (o.enum as unknown[]).some((e) => typeOf(e) === typeOf(v))
              : typeof t === "string" && matchesType(v, t)
          )
        );
      if (typed.length === 1) errors.push(...results[typed[0][1]]);
      else {
        errors.push({
          path,
          reason: `must be ${
            options.map((o) => describe(resolveSchemaRef(o, root))).join(
              ", or ",
            )
          }, got ${show(v)}`,
        });
      }
      return;
    }
    if (schema.oneOf && passing > 1) {
      errors.push({
        path,
        reason: `matches more than one of its allowed forms`,
      });
    }
  }
  if (schema.type !== undefined) {
    const types = [schema.type].flat() as string[];
    if (!types.some((t) => matchesType(v, t))) {
      errors.push({
        path,
        reason: `must be ${types.map(article).join(" or ")}, got ${show(v)}`,
      });
      return;
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === v)) {
    errors.push({
      path,
      reason: `must be one of ${schema.enum.map(show).join(", ")}, got ${
        show(v)
      }`,
    });
    return;
  }
  if ("const" in schema && schema.const !== v) {
    errors.push({
      path,
      reason: `must be ${show(schema.const)}, got ${show(v)}`,
    });
    return;
  }
  if (typeof v === "number") {
    const bound = (k: string, ok: (b: number) => boolean, op: string) => {
      const b = schema[k];
      if (typeof b === "number" && !ok(b)) {
        errors.push({ path, reason: `must be ${op} ${b}, got ${v}` });
      }
    };
    bound("minimum", (b) => v >= b, ">=");
    bound("maximum", (b) => v <= b, "<=");
    bound("exclusiveMinimum", (b) => v > b, ">");
    bound("exclusiveMaximum", (b) => v < b, "<");
  }
  if (typeof v === "string") {
    if (typeof schema.minLength === "number" && v.length < schema.minLength) {
      errors.push({
        path,
        reason: schema.minLength === 1
          ? "must not be empty"
          : `must have at least ${schema.minLength} characters`,
      });
    }
    if (typeof schema.maxLength === "number" && v.length > schema.maxLength) {
      errors.push({
        path,
        reason:
          `must have at most ${schema.maxLength} characters, got ${v.length}`,
      });
    }
    if (
      typeof schema.pattern === "string" && !new RegExp(schema.pattern).test(v)
    ) {
      errors.push({
        path,
        reason: `must match ${schema.pattern}, got ${show(v)}`,
      });
    }
  }
  if (Array.isArray(v)) {
    if (typeof schema.minItems === "number" && v.length < schema.minItems) {
      errors.push({
        path,
        reason: schema.minItems === 1
          ? "must not be empty"
          : `must have at least ${schema.minItems} items`,
      });
    }
    if (typeof schema.maxItems === "number" && v.length > schema.maxItems) {
      errors.push({
        path,
        reason: `must have at most ${schema.maxItems} items, got ${v.length}`,
      });
    }
    if (schema.items !== undefined) {
      v.forEach((x, i) =>
        check(schema.items as JsonSchema, x, `${path}[${i}]`, root, errors)
      );
    }
  }
  if (isObject(v)) {
    const props =
      (isObject(schema.properties) ? schema.properties : {}) as Record<
        string,
        JsonSchema
      >;
    for (const name of (schema.required ?? []) as string[]) {
      if (!Object.hasOwn(v, name) || v[name] === undefined) {
        errors.push({ path: key(path, name), reason: "is required" });
      }
    }
    for (const [name, x] of Object.entries(v)) {
      // as in JSON, a key whose value is undefined is absent
      if (x === undefined) continue;
      if (Object.hasOwn(props, name)) {
        check(props[name], x, key(path, name), root, errors);
        continue;
      }
      if (schema.propertyNames !== undefined) {
        const before = errors.length;
        check(
          schema.propertyNames as JsonSchema,
          name,
          key(path, name),
          root,
          errors,
        );
        if (errors.length > before) continue;
      }
      const extra = schema.additionalProperties;
      if (extra === false) {
        errors.push({
          path,
          reason: `has an unknown key ${JSON.stringify(name)}${
            Object.keys(props).length
              ? ` (known: ${Object.keys(props).join(", ")})`
              : ""
          }`,
        });
      } else if (extra !== undefined && extra !== true) {
        check(extra as JsonSchema, x, key(path, name), root, errors);
      }
    }
  }
}

function describe(schema: JsonSchema): string {
  if (!isObject(schema)) return schema ? "anything" : "nothing";
  if (Array.isArray(schema.enum)) {
    return `one of ${schema.enum.map(show).join(", ")}`;
  }
  if (schema.type !== undefined) {
    return ([schema.type].flat() as string[]).map(article).join(" or ");
  }
  return "a valid value";
}
