/**
 * A JSON Schema compiled once into a yes/no check: the same decisions as
 * `schemaIssues` of config/schema.ts (the same keyword subset, the same
 * reading of each keyword), without building paths or messages, so that a
 * request is checked in microseconds. Used as a fast path: when it says
 * yes, `schemaIssues` would find nothing; when it says no, the caller asks
 * `schemaIssues` for the message (serving/_schema_check_test.ts compares
 * the two on random valid and invalid values).
 *
 * @module
 */

import { type JsonSchema, resolveSchemaRef } from "../config/schema.ts";

type Obj = Record<string, unknown>;
type Check = (v: unknown) => boolean;

const isObject = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v);

// config/schema.ts's `matchesType`: integers are numbers, non-finite
// numbers are neither
function typeCheck(type: string): Check {
  switch (type) {
    case "null":
      return (v) => v === null;
    case "array":
      return (v) => Array.isArray(v);
    case "object":
      return isObject;
    case "integer":
      return (v) => typeof v === "number" && Number.isInteger(v);
    case "number":
      return (v) => typeof v === "number" && Number.isFinite(v);
    case "string":
      return (v) => typeof v === "string";
    case "boolean":
      return (v) => typeof v === "boolean";
    default:
      // a type outside JSON's: what config/schema.ts's typeOf names
      return (v) => {
        if (typeof v === "number") {
          return type === "non-finite" && !Number.isFinite(v);
        }
        const name: string = typeof v;
        return name === type;
      };
  }
}

/**
 * Compiles `schema` (`$ref`s into `root`) into a check that is true
 * exactly when `schemaIssues(schema, value, path, root)` is empty.
 *
 * @param schema The schema.
 * @param root The document `$ref`s point into.
 * @returns The check.
 */
export function compileSchemaCheck(
  schema: JsonSchema,
  root: JsonSchema = schema,
): (value: unknown) => boolean {
  // one check per resolved schema object, shared by every $ref to it
  const compiled = new Map<JsonSchema, Check>();
  const compile = (raw: JsonSchema): Check => {
    const s = resolveSchemaRef(raw, root);
    const known = compiled.get(s);
    if (known) return known;
    // a late-bound slot: a schema that refers to itself compiles once
    let body: Check = () => true;
    const slot: Check = (v) => body(v);
    compiled.set(s, slot);
    body = build(s);
    compiled.set(s, body);
    return body;
  };
  const build = (s: JsonSchema): Check => {
    if (s === true) return () => true;
    if (s === false) return () => false;
    const checks: Check[] = [];
    if (Array.isArray(s.oneOf) || Array.isArray(s.anyOf)) {
      const one = !!s.oneOf;
      const options = ((s.oneOf ?? s.anyOf) as JsonSchema[]).map(compile);
      checks.push((v) => {
        let passing = 0;
        for (const o of options) if (o(v)) passing++;
        return one ? passing === 1 : passing > 0;
      });
    }
    const minLength = typeof s.minLength === "number" ? s.minLength : 0;
    const maxLength = typeof s.maxLength === "number" ? s.maxLength : Infinity;
    const pattern = typeof s.pattern === "string"
      ? new RegExp(s.pattern)
      : undefined;
    const bounded = minLength > 0 || maxLength < Infinity || !!pattern;
    // a string with bounds (an id): one check, its own function, so that
    // a list of ids is checked without a call per keyword
    const boundedString = s.type === "string" && bounded;
    if (boundedString) {
      checks.push((v) =>
        typeof v === "string" && v.length >= minLength &&
        v.length <= maxLength && (!pattern || pattern.test(v))
      );
    } else if (s.type !== undefined) {
      const types = ([s.type].flat() as string[]).map(typeCheck);
      checks.push(
        types.length === 1 ? types[0] : (v) => types.some((t) => t(v)),
      );
    }
    if (Array.isArray(s.enum)) {
      const values = s.enum;
      checks.push((v) => values.some((e) => e === v));
    }
    if ("const" in s) {
      const value = s.const;
      checks.push((v) => v === value);
    }
    const bounds: [string, (v: number, b: number) => boolean][] = [
      ["minimum", (v, b) => v >= b],
      ["maximum", (v, b) => v <= b],
      ["exclusiveMinimum", (v, b) => v > b],
      ["exclusiveMaximum", (v, b) => v < b],
    ];
    for (const [k, ok] of bounds) {
      const b = s[k];
      if (typeof b === "number") {
        checks.push((v) => typeof v !== "number" || ok(v, b));
      }
    }
    if (bounded && !boundedString) {
      checks.push((v) =>
        typeof v !== "string" ||
        (v.length >= minLength && v.length <= maxLength &&
          (!pattern || pattern.test(v)))
      );
    }
    const minItems = typeof s.minItems === "number" ? s.minItems : 0;
    const maxItems = typeof s.maxItems === "number" ? s.maxItems : Infinity;
    const items = s.items !== undefined
      ? compile(s.items as JsonSchema)
      : undefined;
    if (minItems > 0 || maxItems < Infinity || items) {
      checks.push((v) => {
        if (!Array.isArray(v)) return true;
        if (v.length < minItems || v.length > maxItems) return false;
        if (!items) return true;
        for (let i = 0; i < v.length; i++) {
          // forEach skips the holes of a sparse array
          if (!items(v[i]) && i in v) return false;
        }
        return true;
      });
    }
    const props: Record<string, Check> = Object.create(null);
    const propsOf = isObject(s.properties) ? s.properties : {};
    for (const name of Object.keys(propsOf)) {
      props[name] = compile(propsOf[name] as JsonSchema);
    }
    const required = (s.required ?? []) as string[];
    const names = s.propertyNames !== undefined
      ? compile(s.propertyNames as JsonSchema)
      : undefined;
    const extra = s.additionalProperties;
    const extraCheck = extra === undefined || extra === true
      ? undefined
      : extra === false
      ? () => false
      : compile(extra as JsonSchema);
    if (
      required.length > 0 || Object.keys(propsOf).length > 0 || names ||
      extraCheck
    ) {
      checks.push((v) => {
        if (!isObject(v)) return true;
        for (const name of required) {
          if (!Object.hasOwn(v, name) || v[name] === undefined) return false;
        }
        for (const name of Object.keys(v)) {
          const x = v[name];
          // as in JSON, a key whose value is undefined is absent
          if (x === undefined) continue;
          if (Object.hasOwn(propsOf, name)) {
            if (!props[name](x)) return false;
            continue;
          }
          // a name the propertyNames schema refuses is that error alone
          if (names && !names(name)) return false;
          if (extraCheck && !extraCheck(x)) return false;
        }
        return true;
      });
    }
    if (checks.length === 0) return () => true;
    if (checks.length === 1) return checks[0];
    return (v) => {
      for (const c of checks) if (!c(v)) return false;
      return true;
    };
  };
  return compile(schema);
}
