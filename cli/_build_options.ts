/**
 * The build flags shared by the commands that build a model (build-index,
 * serve and recommend with --events, eval), merged over the settings file:
 * the one place build options are decided.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import {
  type BuildOptions,
  checkBuildOptions,
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_MAX_LEARN_WORK,
  DEFAULT_MIN_ROOT_LLR,
  DEFAULT_SIGNIFICANCE,
  type IndicatorOptions,
} from "../indicators/build.ts";
import { DEFAULT_RIDGE } from "../indicators/learned.ts";
import { DEFAULT_MAX_HISTORY_PER_USER } from "../indicators/interactions.ts";
import { buildOptionsOf, type Settings } from "../config/settings.ts";
import { numberFlag, weightingFlag } from "./common.ts";
import { primaryEvent, type ResolvedFormat } from "./_format.ts";

/** parseArgs option specs for the build flags. */
export const BUILD_FLAGS = {
  primary: { type: "string" },
  secondary: { type: "string" },
  similar: { type: "string" },
  "max-indicators": { type: "string" },
  "min-llr": { type: "string" },
  significance: { type: "string" },
  ridge: { type: "string" },
  "field-significance": { type: "string", multiple: true },
  "history-cap": { type: "string" },
  "field-min-llr": { type: "string", multiple: true },
  "field-max-indicators": { type: "string", multiple: true },
  weights: { type: "string" },
  "min-events-per-user": { type: "string" },
} as const;

/** Help text for the build flags. */
export const BUILD_HELP = `
Indicators (fields: indicators = primary × primary, indicators_<S> =
primary × S for each secondary S, similar_<S> = S × S); flags override the
settings file:
  --primary NAME         event type to predict (default: the settings' first
                         indicator, else the format preset's, e.g.
                         "transaction" for RetailRocket, "like" for MovieLens)
  --secondary A,B        secondary event types (default: all others; "" none)
  --similar NAME|none    similar-items type (default: the most common secondary)
  --max-indicators N     indicators kept per item (default ${DEFAULT_MAX_INDICATORS_PER_ITEM})
  --significance A       keep pairs whose LLR test has a p-value <= A (default
                         ${DEFAULT_SIGNIFICANCE}: root LLR >= ${
  DEFAULT_MIN_ROOT_LLR.toFixed(2)
}, raw LLR ${(DEFAULT_MIN_ROOT_LLR ** 2).toFixed(2)})
  --min-llr X            the threshold as a signed root LLR instead (the
                         original tutorial's was 5, raw LLR 25)
  --history-cap N        most recent items kept per user and event type
                         (default ${DEFAULT_MAX_HISTORY_PER_USER}, Mahout's maxNumInteractions)
  --field-min-llr F=X    threshold for field F only (repeatable)
  --field-significance F=A
                         significance level for field F only (repeatable)
  --field-max-indicators F=N
                         top-k for field F only (repeatable)
  --weights W            indicator strength, sparse_vector fields scored by
                         weight: learned (default: a ridge regression of each
                         item on its LLR indicators; by default only while
                         its work stays under ${
  DEFAULT_MAX_LEARN_WORK.toExponential(0)
} user entries, else llr-idf,
                         said on stderr), llr-idf (root LLR × idf), llr (root
                         LLR); or none (keyword fields scored by BM25, as the
                         Universal Recommender does)
  --ridge X              ridge penalty of learned weights (default ${DEFAULT_RIDGE})
  --min-events-per-user N
                         leave out users with fewer distinct interactions
                         (the UR's minEventsPerUser; rankings: settings file)
`;

/** The build flags, as parseArgs gives them. */
export interface BuildFlags {
  primary?: string;
  secondary?: string;
  similar?: string;
  "max-indicators"?: string;
  "min-llr"?: string;
  significance?: string;
  ridge?: string;
  "field-significance"?: string[];
  "history-cap"?: string;
  "field-min-llr"?: string[];
  "field-max-indicators"?: string[];
  weights?: string;
  "min-events-per-user"?: string;
}

/**
 * Build options: the settings, then the flags. Checked before any reading.
 *
 * @param flags Parsed flags.
 * @param settings The settings file.
 * @param format The resolved event format (for the preset's primary event).
 * @returns Build options.
 * @throws {ConfigError} For flags or settings that cannot work.
 */
export function buildOptions(
  flags: BuildFlags,
  settings: Settings,
  format: ResolvedFormat,
): BuildOptions {
  const primary = primaryEvent(flags.primary, settings, format);
  const options: BuildOptions = buildOptionsOf({
    ...settings,
    indicators: settings.indicators ?? [{ name: primary }],
  });
  if (!settings.indicators) delete options.secondaryEvents;
  options.primaryEvent = primary;
  if (flags.secondary !== undefined) {
    options.secondaryEvents = flags.secondary.split(",").map((t) => t.trim())
      .filter(Boolean);
  }
  if (flags.similar !== undefined) {
    options.similarEvent = flags.similar === "none" ? null : flags.similar;
  }
  const max = numberFlag("max-indicators", flags["max-indicators"]);
  if (max !== undefined) options.maxIndicatorsPerItem = max;
  const min = numberFlag("min-llr", flags["min-llr"], false);
  const alpha = numberFlag("significance", flags.significance, false);
  if (min !== undefined && alpha !== undefined) {
    throw new ConfigError("--min-llr", "and --significance are exclusive");
  }
  // a flag's threshold replaces the settings' (either form)
  if (min !== undefined || alpha !== undefined) {
    delete options.minRootLlr;
    delete options.significance;
  }
  if (min !== undefined) options.minRootLlr = min;
  if (alpha !== undefined) options.significance = alpha;
  const ridge = numberFlag("ridge", flags.ridge, false);
  if (ridge !== undefined) options.ridge = ridge;
  const cap = numberFlag("history-cap", flags["history-cap"]);
  if (cap !== undefined) options.maxHistoryPerUser = cap;
  const minEvents = numberFlag(
    "min-events-per-user",
    flags["min-events-per-user"],
  );
  if (minEvents !== undefined) options.minEventsPerUser = minEvents;
  const weights = weightingFlag(flags.weights);
  if (weights !== undefined) options.weights = weights;
  const fields: Record<string, IndicatorOptions> = { ...options.fields };
  const parse = (flag: string, value: string, integer: boolean) => {
    const eq = value.indexOf("=");
    if (eq <= 0) {
      throw new ConfigError(
        `--${flag}`,
        `must look like FIELD=VALUE, got "${value}"`,
      );
    }
    return [
      value.slice(0, eq),
      numberFlag(flag, value.slice(eq + 1), integer)!,
    ] as const;
  };
  for (const v of flags["field-min-llr"] ?? []) {
    const [field, n] = parse("field-min-llr", v, false);
    const { significance: _, ...rest } = fields[field] ?? {};
    fields[field] = { ...rest, minRootLlr: n };
  }
  for (const v of flags["field-significance"] ?? []) {
    const [field, n] = parse("field-significance", v, false);
    const { minRootLlr: _, ...rest } = fields[field] ?? {};
    fields[field] = { ...rest, significance: n };
  }
  for (const v of flags["field-max-indicators"] ?? []) {
    const [field, n] = parse("field-max-indicators", v, true);
    fields[field] = { ...fields[field], maxIndicatorsPerItem: n };
  }
  if (Object.keys(fields).length) options.fields = fields;
  checkBuildOptions(options);
  return options;
}

/**
 * Every event type a build reads: primary, secondary, similar-items, and
 * the rankings' (so that a preset listing its event names accepts them).
 *
 * @param options Build options.
 * @returns The names (some may be undefined or null).
 */
export function namedEvents(
  options: BuildOptions,
): (string | null | undefined)[] {
  return [
    options.primaryEvent,
    ...options.secondaryEvents ?? [],
    options.similarEvent,
    ...(options.rankings ?? []).flatMap((r) => r.eventNames ?? []),
  ];
}
