/**
 * The evaluation report: Markdown tables, a short interpretation generated
 * from the numbers, JSON, and an SVG chart of recall@k per model.
 *
 * @module
 */

import type { Evaluation } from "./evaluate.ts";

/** What the report is about. */
export interface ReportInput {
  /** Title. */
  title: string;
  /** Dataset name. */
  dataset: string;
  /** Split protocol, in words. */
  protocol: string;
  /** Training events. */
  trainEvents: number;
  /** Test users. */
  testUsers: number;
  /** Indicator fields built. */
  fields: string[];
  /** Build time. */
  buildMs: number;
  /** Results per model. */
  results: Record<string, Evaluation>;
  /** Published figures to print beside ours (Markdown). */
  published?: string;
  /** The tuning search, on the validation split. */
  tuning?: {
    /** Validation users. */
    users: number;
    /** Settings scored. */
    settings: number;
    /** Seconds spent. */
    seconds: number;
    /** False when the budget ran out first. */
    complete: boolean;
    /** The starting setting (this run's build) and its figures. */
    start: TunedSetting;
    /** The best settings, best first. */
    best: TunedSetting[];
  };
}

/** One setting of the tuning search with its validation figures. */
export interface TunedSetting {
  /** Threshold on signed root LLR. */
  minRootLlr: number;
  /** Indicators per item. */
  maxIndicatorsPerItem: number;
  /** Weighting. */
  weights: string;
  /** Ridge penalty (learned weights). */
  ridge?: number;
  /** History items per type. */
  maxQueryEvents: number;
  /** Secondary field boost. */
  secondaryBoost: number;
  /** nDCG@10 on validation. */
  ndcg: number;
  /** Recall@10 on validation. */
  recall: number;
}

const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
];

/**
 * An SVG line chart of recall@k (k = 1..n) per model.
 *
 * @param results Results per model.
 * @returns SVG text.
 */
export function recallChart(results: Record<string, Evaluation>): string {
  const w = 640, h = 400, left = 60, right = 180, top = 30, bottom = 50;
  const names = Object.keys(results);
  const n = Math.max(...names.map((m) => results[m].recallCurve.length));
  const max = Math.max(1e-9, ...names.flatMap((m) => results[m].recallCurve)) *
    1.1;
  const x = (k: number) =>
    left + (k - 1) / Math.max(1, n - 1) * (w - left - right);
  const y = (v: number) => h - bottom - v / max * (h - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${left}" y="18" font-size="14">recall@k</text>`,
    `<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${
      h - bottom
    }" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${
      h - bottom
    }" stroke="black"/>`,
  ];
  for (let k = 1; k <= n; k++) {
    if (k === 1 || k % 5 === 0) {
      parts.push(
        `<text x="${x(k)}" y="${
          h - bottom + 18
        }" text-anchor="middle">${k}</text>`,
      );
    }
  }
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4;
    parts.push(
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${
        v.toFixed(3)
      }</text>`,
      `<line x1="${left}" y1="${y(v)}" x2="${w - right}" y2="${
        y(v)
      }" stroke="#ddd"/>`,
    );
  }
  parts.push(
    `<text x="${(left + w - right) / 2}" y="${
      h - 12
    }" text-anchor="middle">k</text>`,
  );
  names.forEach((name, i) => {
    const color = COLORS[i % COLORS.length];
    const points = results[name].recallCurve.map((v, k) =>
      `${x(k + 1).toFixed(1)},${y(v).toFixed(1)}`
    )
      .join(" ");
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`,
      `<rect x="${w - right + 15}" y="${
        top + i * 20
      }" width="12" height="12" fill="${color}"/>`,
      `<text x="${w - right + 32}" y="${top + i * 20 + 10}">${
        escape(name)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  );
}

function fmt(v: number): string {
  return v.toFixed(4);
}

/**
 * The interpretation paragraph: which model wins recall@10 and nDCG@10, by
 * how much, and whether the intervals separate it from the runner-up.
 *
 * @param results Results per model.
 * @returns Markdown sentences.
 */
export function interpret(results: Record<string, Evaluation>): string {
  const lines: string[] = [];
  for (const metric of ["recall", "ndcg"] as const) {
    const ranked = Object.entries(results)
      .sort(([, a], [, b]) => b.atK[10].mean[metric] - a.atK[10].mean[metric]);
    const [best, second] = ranked;
    if (!second) continue;
    const [bName, b] = best, [sName, s] = second;
    const diff = b.atK[10].mean[metric] - s.atK[10].mean[metric];
    const rel = s.atK[10].mean[metric] > 0
      ? ` (${(diff / s.atK[10].mean[metric] * 100).toFixed(0)}% more)`
      : "";
    const separated =
      b.atK[10].interval[metric][0] > s.atK[10].interval[metric][1];
    lines.push(
      `- ${metric === "ndcg" ? "nDCG" : "Recall"}@10: **${bName}** leads with ${
        fmt(b.atK[10].mean[metric])
      }, ahead of ${sName} (${fmt(s.atK[10].mean[metric])}) by ${
        fmt(diff)
      }${rel}; ` +
        (separated
          ? "the 95% intervals do not overlap."
          : "the 95% intervals overlap, so the lead is not established on this data."),
    );
  }
  // the full model against each baseline: CCO, or without secondary
  // fields the purchase-only model with the run's settings
  const fullName = results.CCO ? "CCO" : "purchase-only LLR";
  const full = results[fullName];
  for (const base of ["tutorial seed", "purchase-only LLR", "popularity"]) {
    const b = results[base];
    if (!full || !b || base === fullName) continue;
    for (const metric of ["recall", "ndcg"] as const) {
      const diff = full.atK[10].mean[metric] - b.atK[10].mean[metric];
      const separated = diff > 0
        ? full.atK[10].interval[metric][0] > b.atK[10].interval[metric][1]
        : b.atK[10].interval[metric][0] > full.atK[10].interval[metric][1];
      lines.push(
        `- ${fullName} vs ${base}, ${
          metric === "ndcg" ? "nDCG" : "recall"
        }@10: ${fmt(full.atK[10].mean[metric])} vs ${
          fmt(b.atK[10].mean[metric])
        } (${diff >= 0 ? "+" : ""}${fmt(diff)}); ${
          separated ? "the intervals do not overlap" : "the intervals overlap"
        }.`,
      );
    }
  }
  const pop = results.popularity;
  const cco = results.CCO ?? results["purchase-only LLR"];
  if (pop && cco) {
    lines.push(
      `- Backfill filled ${
        (cco.backfillShare * 100).toFixed(0)
      }% of the slots of ${
        results.CCO ? "CCO" : "purchase-only LLR"
      } (popular items where the indicators ran out); catalogue coverage ${
        (cco.coverage * 100).toFixed(1)
      }% vs ${(pop.coverage * 100).toFixed(1)}% for popularity.`,
    );
  }
  return lines.join("\n");
}

/**
 * Writes `report.md`, `report.json` and `recall.svg` into `dir`.
 *
 * @param dir Output directory.
 * @param input The report's content.
 * @returns The files written.
 */
export async function writeReport(
  dir: string,
  input: ReportInput,
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const rows = Object.entries(input.results);
  const table = (k: number) =>
    [
      `| model | precision@${k} | recall@${k} | MAP@${k} | nDCG@${k} | hit rate@${k} |`,
      "| --- | --- | --- | --- | --- | --- |",
      ...rows.map(([name, r]) => {
        const m = r.atK[k].mean, iv = r.atK[k].interval;
        const c = (key: keyof typeof m) =>
          `${fmt(m[key])} [${fmt(iv[key][0])}, ${fmt(iv[key][1])}]`;
        return `| ${name} | ${c("precision")} | ${c("recall")} | ${
          c("map")
        } | ${c("ndcg")} | ${c("hit")} |`;
      }),
    ].join("\n");
  const md = [
    `# ${input.title}`,
    "",
    `- dataset: ${input.dataset}`,
    `- protocol: ${input.protocol}`,
    `- training events: ${
      input.trainEvents.toLocaleString("en")
    }; test users: ${input.testUsers.toLocaleString("en")}`,
    `- indicator fields: ${input.fields.join(", ")} (built in ${
      (input.buildMs / 1000).toFixed(2)
    } s)`,
    "",
    "Means with bootstrap 95% intervals over test users.",
    "",
    table(10),
    "",
    table(20),
    "",
    "| model | catalogue coverage@20 | backfill share@20 |",
    "| --- | --- | --- |",
    ...rows.map(([name, r]) =>
      `| ${name} | ${(r.coverage * 100).toFixed(1)}% | ${
        (r.backfillShare * 100).toFixed(1)
      }% |`
    ),
    "",
    ...(input.published ? [input.published, ""] : []),
    ...(input.tuning ? tuningSection(input.tuning) : []),
    "![recall@k](recall.svg)",
    "",
    "## Interpretation",
    "",
    interpret(input.results),
    "",
  ].join("\n");
  const files = [`${dir}/report.md`, `${dir}/report.json`, `${dir}/recall.svg`];
  await Deno.writeTextFile(files[0], md);
  await Deno.writeTextFile(files[1], JSON.stringify(input, null, 2) + "\n");
  await Deno.writeTextFile(files[2], recallChart(input.results));
  return files;
}

function tuningSection(t: NonNullable<ReportInput["tuning"]>): string[] {
  const row = (s: TunedSetting, label = "") =>
    `| ${label}${+s.minRootLlr.toFixed(
      4,
    )} | ${s.maxIndicatorsPerItem} | ${s.weights} | ${
      s.weights === "learned" ? s.ridge ?? "" : ""
    } | ${s.maxQueryEvents} | ${s.secondaryBoost} | ${fmt(s.ndcg)} | ${
      fmt(s.recall)
    } |`;
  return [
    `Tuning (\`--tune\`): ${t.settings} settings scored on a validation split carved out of the training data (${
      t.users.toLocaleString("en")
    } users; the test split was not used) in ${t.seconds.toFixed(0)} s${
      t.complete ? "" : ", stopped by the time budget"
    }. The start (this run's settings) and the best:`,
    "",
    "| min root LLR | indicators/item | weights | ridge | history/type | secondary boost | nDCG@10 | recall@10 |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    row(t.start, "start: "),
    ...t.best.map((s) => row(s)),
    "",
  ];
}
