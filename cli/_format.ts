/**
 * The event-format flags shared by the commands that read events, and the
 * one place where the format and the primary event are decided: flags,
 * then the settings file, then the RetailRocket preset.
 *
 * @module
 */

import { ConfigError, messageOf } from "../errors/mod.ts";
import {
  type EventFormat,
  type FormatPreset,
  PRESETS,
  resolveFormat,
  type TimestampUnit,
} from "../events/format.ts";
import { formatOf, primaryEventOf, type Settings } from "../config/settings.ts";

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
Event format (default: events.format in the settings, else RetailRocket
events.csv: header timestamp,visitorid,event,itemid,transactionid, unix ms):
  --format NAME          preset: ${Object.keys(PRESETS).join(", ")}
  --format-config FILE   JSON file holding an event format object (see
                         config/cco.schema.json, $defs.eventFormat)
  --delimiter C          field delimiter ("\\t" for tab)
  --no-header            the file has no header line
  --user-col C, --item-col C, --event-col C, --timestamp-col C
                         column: 0-based index or header name; without a
                         timestamp column, file order is time
  --timestamp-unit U     ms, s or datetime
  --event NAME           fixed event name (no event column)
  --event-alias RAW=NAME map a raw event name (repeatable)
  --accept-events A,B,C  accepted event names; others are an error (event
                         types named by --primary/--secondary/--similar or
                         the settings are always accepted)
`;

/** The format flags, as parseArgs gives them. */
export interface FormatFlags {
  format?: string;
  "format-config"?: string;
  delimiter?: string;
  "no-header"?: boolean;
  "user-col"?: string;
  "item-col"?: string;
  "event-col"?: string;
  "timestamp-col"?: string;
  "timestamp-unit"?: string;
  event?: string;
  "event-alias"?: string[];
  "accept-events"?: string;
}

/** What the format flags and settings decide. */
export interface ResolvedFormat {
  /** The format. */
  format: EventFormat;
  /** The preset it starts from, if any (`custom` otherwise). */
  name: string;
  /** The primary event the preset implies, if any. */
  presetPrimary?: string;
}

/**
 * The event format: `--format-config FILE` or `--format NAME`, else the
 * settings' `events.format`, else RetailRocket; then the individual flags
 * override it.
 *
 * @param flags Parsed flags.
 * @param settings The settings file.
 * @returns The format, its name, and the primary event of its preset.
 * @throws {ConfigError} For flags that cannot work.
 */
export async function eventFormat(
  flags: FormatFlags,
  settings: Settings = {},
): Promise<ResolvedFormat> {
  const config = flags["format-config"];
  if (flags.format !== undefined && config !== undefined) {
    throw new ConfigError("--format", "and --format-config are exclusive");
  }
  let base: EventFormat;
  let name: string;
  if (config !== undefined) {
    base = await readFormatFile(config);
    name = "custom";
  } else if (flags.format !== undefined) {
    base = resolveFormat(flags.format);
    name = flags.format;
  } else {
    base = formatOf(settings) ?? resolveFormat();
    const f = settings.events?.format;
    name = typeof f === "string" ? f : f ? "custom" : "retailrocket";
  }
  const f: EventFormat = { ...base };
  if (flags.delimiter !== undefined) {
    f.delimiter = flags.delimiter === "\\t" || flags.delimiter === "tab"
      ? "\t"
      : flags.delimiter;
  }
  if (flags["no-header"]) {
    f.header = false;
    // a preset's header names cannot work without a header: unset them, so
    // that a column not given again is absent (no timestamp: file order)
    for (const key of ["user", "item", "event", "timestamp"] as const) {
      if (typeof f[key] === "string") delete f[key];
    }
    if (f.event === undefined && flags["event-col"] === undefined) {
      f.events = undefined;
    }
  }
  const col = (v: string) => /^\d+$/.test(v) ? Number(v) : v;
  if (flags["user-col"] !== undefined) f.user = col(flags["user-col"]);
  if (flags["item-col"] !== undefined) f.item = col(flags["item-col"]);
  if (flags["timestamp-col"] !== undefined) {
    f.timestamp = col(flags["timestamp-col"]);
  }
  if (flags["event-col"] !== undefined) f.event = col(flags["event-col"]);
  if (flags.event !== undefined) {
    f.fixedEvent = flags.event;
    f.event = undefined;
  }
  if (flags["timestamp-unit"] !== undefined) {
    const unit = flags["timestamp-unit"];
    if (!["ms", "s", "datetime"].includes(unit)) {
      throw new ConfigError(
        "--timestamp-unit",
        `must be ms, s or datetime, got "${unit}"`,
      );
    }
    f.timestampUnit = unit as TimestampUnit;
  }
  const aliases = flags["event-alias"] ?? [];
  if (aliases.length > 0) {
    const map: Record<string, string> = { ...f.eventAliases };
    for (const a of aliases) {
      const eq = a.indexOf("=");
      if (eq <= 0 || eq === a.length - 1) {
        throw new ConfigError(
          "--event-alias",
          `must look like raw=name, got "${a}"`,
        );
      }
      map[a.slice(0, eq)] = a.slice(eq + 1);
    }
    f.eventAliases = map;
  }
  if (flags["accept-events"] !== undefined) {
    f.events = flags["accept-events"].split(",").map((s) => s.trim())
      .filter(Boolean);
  }
  // A custom layout must not keep the preset's accepted names by accident.
  if (flags["event-col"] !== undefined || flags.event !== undefined) {
    if (flags["accept-events"] === undefined && aliases.length === 0) {
      f.events = undefined;
    }
  }
  const custom = name === "custom" ||
    Object.keys(flags).some((k) =>
      k in EVENT_FORMAT_FLAGS && k !== "format" &&
      (flags as Record<string, unknown>)[k] !== undefined
    );
  const preset = (PRESETS as Record<string, FormatPreset>)[name];
  // the preset's primary event holds while its event names do; a log of one
  // fixed event predicts that event
  const eventsChanged = flags["event-col"] !== undefined ||
    aliases.length > 0 || flags["accept-events"] !== undefined;
  return {
    format: resolveFormat(f),
    name: custom && name !== "custom" ? `${name} (modified)` : name,
    presetPrimary: f.fixedEvent ??
      (eventsChanged || f.event === undefined
        ? undefined
        : preset?.primaryEvent),
  };
}

async function readFormatFile(path: string): Promise<EventFormat> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      "--format-config",
      `cannot read ${path}: ${messageOf(error)}`,
    );
  }
  try {
    return JSON.parse(text) as EventFormat;
  } catch (error) {
    throw new ConfigError(
      "--format-config",
      `${path} is not JSON: ${messageOf(error)}`,
    );
  }
}

/**
 * The primary event: `--primary`, else the settings' first indicator, else
 * the preset's. The one place it is decided.
 *
 * @param flag The `--primary` flag.
 * @param settings The settings file.
 * @param format The resolved format.
 * @returns The primary event.
 * @throws {ConfigError} When nothing names it (a custom format).
 */
export function primaryEvent(
  flag: string | undefined,
  settings: Settings,
  format: ResolvedFormat,
): string {
  const primary = flag ?? settings.indicators?.[0]?.name ??
    format.presetPrimary ??
    (settings.events?.format === undefined
      ? undefined
      : primaryEventOf(settings));
  if (!primary) {
    throw new ConfigError(
      "--primary",
      "is needed: the format names no primary event (or list it first in the settings' indicators)",
    );
  }
  return primary;
}

/**
 * The format with every event type the build names accepted: a preset that
 * lists its event names must not reject a custom name given as primary or
 * secondary.
 *
 * @param format The format.
 * @param names Event types named by flags or settings.
 * @returns The format, its accepted list extended.
 */
export function acceptNamed(
  format: EventFormat,
  names: readonly (string | null | undefined)[],
): EventFormat {
  if (!format.events) return format;
  const extra = names.filter((n): n is string =>
    typeof n === "string" && !format.events!.includes(n)
  );
  return extra.length
    ? { ...format, events: [...format.events, ...extra] }
    : format;
}
