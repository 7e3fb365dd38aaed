/**
 * The event-format flags shared by the tasks that read events.
 *
 * @module
 */

import {
  type EventFormat,
  type FormatFlags,
  formatFromFlags,
  PRESETS,
} from "../events/read.ts";

/** parseArgs option specs for the format flags. */
export const EVENT_FORMAT_FLAGS = {
  format: { type: "string" },
  "format-config": { type: "string" },
  delimiter: { type: "string" },
  "no-header": { type: "boolean" },
  "user-col": { type: "string" },
  "item-col": { type: "string" },
  "event-col": { type: "string" },
  "timestamp-col": { type: "string" },
  "timestamp-unit": { type: "string" },
  event: { type: "string" },
  "event-alias": { type: "string", multiple: true },
  "accept-events": { type: "string" },
} as const;

/** Help text for the format flags. */
export const EVENT_FORMAT_HELP = `
Event format (default: RetailRocket events.csv,
header timestamp,visitorid,event,itemid,transactionid, unix ms):
  --format NAME          preset: ${Object.keys(PRESETS).join(", ")}
  --format-config FILE   JSON file with an EventFormat object
  --delimiter C          field delimiter ("\\t" for tab)
  --no-header            the file has no header line
  --user-col C, --item-col C, --event-col C, --timestamp-col C
                         column: 0-based index or header name
  --timestamp-unit U     ms, s or datetime
  --event NAME           fixed event name (no event column)
  --event-alias RAW=NAME map a raw event name (repeatable)
  --accept-events A,B,C  accepted event names; others are an error
`;

/**
 * Builds the event format (and the default primary event) from flags.
 *
 * @param flags Parsed flags.
 * @returns The format and the primary event it implies.
 */
export function eventFormat(
  flags: Record<string, unknown>,
): { format: EventFormat; primaryEvent: string } {
  const format = formatFromFlags({
    ...flags,
    alias: flags["event-alias"],
    events: flags["accept-events"],
  } as FormatFlags);
  const preset = typeof flags.format === "string"
    ? PRESETS[flags.format as keyof typeof PRESETS]
    : undefined;
  return { format, primaryEvent: preset?.primaryEvent ?? "transaction" };
}
