/**
 * What the HTTP handler checks before it trusts a request with state: the
 * bearer token (compared in constant time), the media type of a body that
 * changes state (`application/json` only, so that no web page can post it
 * with a plain form or `text/plain`, which browsers send cross-site without
 * asking), and an event for `POST /events` (its event type one the model
 * has, its ids within the serving limits).
 *
 * @module
 */

import { RequestError } from "../errors/mod.ts";
import type { Event } from "../events/format.ts";
import { historyFields, type ModelManifest } from "../model/manifest.ts";
import { MAX_ID_LENGTH } from "../serving/request.ts";

const encoder = new TextEncoder();

/**
 * Whether `given` equals `secret`, in a time that depends on the secret's
 * length only (not on how much of it `given` gets right).
 *
 * @param given What the client sent.
 * @param secret The secret.
 * @returns Whether they are equal.
 */
export function sameSecret(given: string, secret: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(secret);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= b[i] ^ (a[i] ?? 0);
  return diff === 0;
}

/**
 * Whether a request carries `Authorization: Bearer <token>`.
 *
 * @param header The `Authorization` header (or null).
 * @param token The token.
 * @returns Whether it does.
 */
export function bearerMatches(header: string | null, token: string): boolean {
  const m = /^bearer +(.*)$/i.exec(header ?? "");
  return sameSecret(m ? m[1] : "", token) && m !== null;
}

/**
 * Whether a `Content-Type` is JSON (`application/json`, any parameters).
 *
 * @param contentType The header (or null).
 * @returns Whether it is.
 */
export function isJson(contentType: string | null): boolean {
  return (contentType ?? "").split(";")[0].trim().toLowerCase() ===
    "application/json";
}

/** Earliest and latest timestamps accepted: JavaScript's date range. */
const MAX_TIME = 8.64e15;

/**
 * Validates the body of `POST /events` against the model served: `user`,
 * `item` and `event` non-empty strings, ids of at most `MAX_ID_LENGTH`
 * characters, `event` one of the model's event types, `timestamp` (default
 * now) integer unix milliseconds.
 *
 * @param body The parsed JSON object.
 * @param manifest The model's manifest.
 * @param now The default timestamp.
 * @returns The event.
 * @throws {RequestError} Naming the part at fault.
 */
export function parseEvent(
  body: Record<string, unknown>,
  manifest: ModelManifest,
  now: number = Date.now(),
): Event {
  const { user, item, event, timestamp = now, ...rest } = body;
  if (Object.keys(rest).length) {
    throw new RequestError(
      "event",
      `has unknown keys: ${Object.keys(rest).join(", ")}`,
    );
  }
  for (const [k, v] of [["user", user], ["item", item], ["event", event]]) {
    if (typeof v !== "string" || v === "") {
      throw new RequestError(`event.${k}`, "must be a non-empty string");
    }
    if (k !== "event" && v.length > MAX_ID_LENGTH) {
      throw new RequestError(
        `event.${k}`,
        `must have at most ${MAX_ID_LENGTH} characters, got ${v.length}`,
      );
    }
  }
  const types = historyFields(manifest);
  if (!types.has(event as string)) {
    throw new RequestError(
      "event.event",
      `is not an event type of this model (${[...types.keys()].join(", ")})`,
    );
  }
  if (
    typeof timestamp !== "number" || !Number.isInteger(timestamp) ||
    Math.abs(timestamp) > MAX_TIME
  ) {
    throw new RequestError("event.timestamp", "must be unix milliseconds");
  }
  return {
    user: user as string,
    item: item as string,
    event: event as string,
    timestamp,
  };
}
