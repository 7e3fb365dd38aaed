/**
 * Internal: the embedded index's postings, and a request turned into what
 * the ranking runs: each history clause's run of postings with what one
 * match adds, the excluded documents, and the request's paging and rules.
 *
 * Two ways to a plan, with the same result: {@linkcode planOf} from a
 * normalized request (every feature), and {@linkcode fastPlan} for a
 * request that is only histories, paging, exclusions and backfill (the
 * shape of a batch of users), straight from the raw request: one term
 * lookup per item, duplicates found by term number, no clause objects.
 * It applies only when it can answer exactly as `normalizeRequest` would
 * (a valid request of that shape) and returns `undefined` otherwise, so
 * that the general path gives the answer or the error.
 *
 * @module
 */

import { keywordTermScore } from "./bm25.ts";
import { ModelError } from "../errors/mod.ts";
import { featureValue } from "../indicators/weights.ts";
import type { IndexableDocument } from "../model/document.ts";
import { indicatorFieldsOf } from "../model/fields.ts";
import type { ModelManifest } from "../model/manifest.ts";
import {
  type Boost,
  type Filter,
  isRequestShape,
  MAX_HISTORY,
  MAX_WINDOW,
  type NormalizedRequest,
  type RecommendRequest,
  type ResolvedServing,
} from "../serving/request.ts";

/**
 * One indicator field's inverted index: the documents listing each term
 * (term `t`'s run is `docs[offsets[t]]` to `docs[offsets[t + 1] - 1]`, in
 * document order), their stored weights on a weighted field, and the BM25
 * statistics of a keyword field.
 */
export interface FieldIndex {
  /** Documents with a value in the field (keyword fields). */
  docCount: number;
  /** Values in the field over all documents (keyword fields). */
  sumDocFreq: number;
  /** Where each term's run starts; one more entry than terms. */
  offsets: Int32Array;
  /** Document numbers, by term. */
  docs: Int32Array;
  /** Stored weights, aligned with `docs` (weighted fields). */
  weights?: Float32Array;
}

/** What plans are made against. */
export interface PostingsIndex {
  /** Number of documents: terms below it are document numbers. */
  size: number;
  /** Every id a document has or lists, numbered. */
  termIds: Map<string, number>;
  /** Indicator fields by name. */
  fields: Map<string, FieldIndex>;
}

/** The request options the ranking reads, after defaults. */
export type PlanOptions =
  & Pick<
    NormalizedRequest,
    | "num"
    | "from"
    | "window"
    | "backfill"
    | "explain"
    | "dither"
    | "clauses"
  >
  & {
    /** Number fields ordering ties and backfill. */
    rankBy: readonly string[];
    /** Filters. */
    filters: readonly Filter[];
    /** Boosts. */
    boosts: readonly Boost[];
  };

/** A request ready to rank. */
export interface Plan {
  /** Runs of postings, in clause order. */
  count: number;
  /** Each run's field (the first `count` entries: the rest is scratch). */
  index: FieldIndex[];
  /** Each run's first posting. */
  start: Int32Array;
  /** Each run's end (exclusive). */
  end: Int32Array;
  /**
   * What one match adds: the BM25 score on a keyword field, the boost (a
   * float, times the stored weight) on a weighted field.
   */
  score: Float64Array;
  /** The clause of `options.clauses` each run comes from. */
  clause: Int32Array;
  /** Number of history clauses, matched or not. */
  clauses: number;
  /** Postings over all runs. */
  postings: number;
  /**
   * Whether every match adds more than 0, so that a document's sum is > 0
   * exactly when it matched.
   */
  positive: boolean;
  /** Excluded documents (repeats allowed). */
  exclude: Int32Array;
  /** Paging and rules. */
  options: PlanOptions;
}

/** A field while indexing: every posting's term, document and weight. */
interface FieldBuilder {
  terms: number[];
  docs: number[];
  weights?: number[];
  docCount: number;
  sumDocFreq: number;
}

/**
 * Indexes documents (distinct ids; document `d` is `documents[d]`): ids
 * numbered, documents' own first, and each field's postings by term.
 *
 * @param documents The documents.
 * @param manifest Their manifest (which fields are weighted).
 * @returns The index.
 * @throws {ModelError} When a document disagrees with the manifest.
 */
export function indexDocuments(
  documents: readonly IndexableDocument[],
  manifest: ModelManifest,
): PostingsIndex {
  const weighted = new Map(
    manifest.fields.map((f) => [f.name, f.weights !== "none"]),
  );
  // term numbers: a document's id is its own number, other ids follow
  const termIds = new Map<string, number>();
  documents.forEach((doc, d) => termIds.set(doc.id, d));
  const termOf = (id: string): number => {
    let t = termIds.get(id);
    if (t === undefined) termIds.set(id, t = termIds.size);
    return t;
  };
  // every posting as (term, document, weight), in document order
  const building = new Map<string, FieldBuilder>();
  documents.forEach((doc, d) => {
    const id = doc.id;
    for (const [field, values] of indicatorFieldsOf(doc)) {
      const isWeighted = weighted.get(field);
      if (isWeighted === undefined) {
        throw new ModelError(
          `document "${id}": field "${field}" is not in the manifest (${
            [...weighted.keys()].join(", ")
          })`,
        );
      }
      let index = building.get(field);
      if (!index) {
        index = { terms: [], docs: [], docCount: 0, sumDocFreq: 0 };
        building.set(field, index);
      }
      const weights = doc.weights?.[field];
      if (isWeighted && values.length > 0) {
        if (!weights || weights.length !== values.length) {
          throw new ModelError(
            `document "${id}": field "${field}" has ${values.length} ids but ${
              weights?.length ?? 0
            } weights`,
          );
        }
        index.weights ??= [];
        // a sparse_vector keeps one weight per feature: the last one sent
        const byTerm = new Map<string, number>();
        values.forEach((term, i) => byTerm.set(term, featureValue(weights[i])));
        for (const [term, w] of byTerm) {
          index.terms.push(termOf(term));
          index.docs.push(d);
          index.weights.push(w);
        }
        continue;
      }
      if (isWeighted) continue;
      // a keyword field holds each distinct value once per document
      const terms = new Set(values);
      if (terms.size > 0) index.docCount++;
      index.sumDocFreq += terms.size;
      for (const term of terms) {
        index.terms.push(termOf(term));
        index.docs.push(d);
      }
    }
  });
  // each field's postings, by term: one run per term (counting sort)
  const nTerms = termIds.size;
  const fields = new Map<string, FieldIndex>();
  for (const [field, b] of building) {
    const offsets = new Int32Array(nTerms + 1);
    for (const t of b.terms) offsets[t + 1]++;
    for (let t = 0; t < nTerms; t++) offsets[t + 1] += offsets[t];
    const at = offsets.slice(0, nTerms);
    const docs = new Int32Array(b.docs.length);
    const weights = b.weights ? new Float32Array(b.docs.length) : undefined;
    b.terms.forEach((t, p) => {
      const q = at[t]++;
      docs[q] = b.docs[p];
      if (weights) weights[q] = b.weights![p];
    });
    fields.set(field, {
      docCount: b.docCount,
      sumDocFreq: b.sumDocFreq,
      offsets,
      docs,
      ...(weights ? { weights } : {}),
    });
  }
  return { size: documents.length, termIds, fields };
}

// a boost of at least this times a stored weight (a float >= 2^-126) is at
// least 2^-146, above the least float 2^-149: the match adds more than 0
const TINY_BOOST = 2 ** -20;

// a plan in the making
class PlanBuilder {
  count = 0;
  postings = 0;
  positive = true;
  index: FieldIndex[] = [];
  start: Int32Array;
  end: Int32Array;
  score: Float64Array;
  clause: Int32Array;
  // excluded documents: the first `excluded` of `exclude`
  excluded = 0;
  exclude: Int32Array = new Int32Array(16);
  constructor(capacity: number) {
    this.start = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
    this.score = new Float64Array(capacity);
    this.clause = new Int32Array(capacity);
  }
  // empty again, for a plan of up to `capacity` runs: a scratch builder
  // reused from one request to the next (its plan is ranked before the
  // next is made). `index` keeps its length: emptied, a JS array lets go
  // of its storage and grows it again push by push
  reset(capacity: number): void {
    this.count = 0;
    this.postings = 0;
    this.positive = true;
    this.excluded = 0;
    if (this.start.length < capacity) {
      const n = Math.max(capacity, 2 * this.start.length);
      this.start = new Int32Array(n);
      this.end = new Int32Array(n);
      this.score = new Float64Array(n);
      this.clause = new Int32Array(n);
    }
  }
  // the clause `field: term` with its boost, when documents list the term
  add(index: FieldIndex, t: number, boost: number, clause: number): void {
    const start = index.offsets[t], end = index.offsets[t + 1];
    if (start === end) return;
    const k = this.count++;
    this.index[k] = index;
    this.start[k] = start;
    this.end[k] = end;
    this.clause[k] = clause;
    this.postings += end - start;
    if (index.weights) {
      // Lucene's linear feature query: boost × stored weight, in float
      const b = Math.fround(boost);
      this.score[k] = b;
      if (!(b >= TINY_BOOST)) this.positive = false;
    } else {
      const s = keywordTermScore({
        docFreq: end - start,
        docCount: index.docCount,
        sumDocFreq: index.sumDocFreq,
        boost,
      });
      this.score[k] = s;
      if (!(s > 0)) this.positive = false;
    }
  }
  // document `d` excluded
  excludeDoc(d: number): void {
    if (this.excluded === this.exclude.length) {
      const grown = new Int32Array(2 * this.exclude.length);
      grown.set(this.exclude);
      this.exclude = grown;
    }
    this.exclude[this.excluded++] = d;
  }
  plan(clauses: number, options: PlanOptions): Plan {
    return {
      count: this.count,
      index: this.index,
      start: this.start,
      end: this.end,
      score: this.score,
      clause: this.clause,
      clauses,
      postings: this.postings,
      positive: this.positive,
      exclude: this.exclude.subarray(0, this.excluded),
      options,
    };
  }
}

/**
 * The plan of a normalized request (item lookups done).
 *
 * @param index The postings.
 * @param r The request.
 * @returns The plan.
 */
export function planOf(index: PostingsIndex, r: NormalizedRequest): Plan {
  const b = new PlanBuilder(r.clauses.length);
  let field = "", fieldIndex: FieldIndex | undefined;
  for (let c = 0; c < r.clauses.length; c++) {
    const clause = r.clauses[c];
    if (c === 0 || clause.field !== field) {
      field = clause.field;
      fieldIndex = index.fields.get(field);
    }
    const t = index.termIds.get(clause.item);
    if (fieldIndex && t !== undefined) b.add(fieldIndex, t, clause.boost, c);
  }
  for (const id of r.exclude) {
    const t = index.termIds.get(id);
    if (t !== undefined && t < index.size) b.excludeDoc(t);
  }
  return b.plan(r.clauses.length, r);
}

/** What {@linkcode fastPlan} needs besides the index. */
export interface FastPlanContext {
  /** The model's primary event type. */
  primaryEvent: string;
  /** Indicator field of each history event type. */
  historyFields: ReadonlyMap<string, string>;
  /** The recommender's serving settings. */
  serving: ResolvedServing;
  /** Scratch: one byte per term, all 0 between calls. */
  seen: Uint8Array;
  /**
   * Scratch reused from one request to the next (made on first use): a
   * plan is ranked before the next one is made.
   */
  scratch?: FastPlanScratch;
}

/**
 * A request of the fast shape (histories, paging, `exclude`,
 * `excludeSeen`, `backfill`) with its ids looked up: what
 * {@linkcode planTerms} plans. {@linkcode fastPlan} fills it from a request
 * object, the batch line reader from a line's bytes.
 */
export class TermRequest {
  /** Each history list's event type, in the request's order. */
  types: string[] = [];
  /** Each list's end in `items` (a list starts where the one before ends). */
  ends: number[] = [];
  /**
   * The lists' items in order: a term number, or `-1 - u` for
   * `unknown[u]`, an id the model does not have.
   */
  items: Int32Array = new Int32Array(256);
  /** Items used of `items`. */
  length = 0;
  /** Ids the model does not have, as `items` refers to them. */
  unknown: string[] = [];
  /** The term numbers `exclude` lists (ids the model lacks left out). */
  exclude: number[] = [];
  /** How many ids `exclude` lists (those the model lacks included). */
  excludeLength = 0;
  /** The request's values, `undefined` when not given. */
  num: number | undefined;
  /** See `num`. */
  from: number | undefined;
  /** See `num`. */
  backfill: boolean | undefined;
  /** See `num`. */
  excludeSeen: boolean | undefined;

  /** Empties it. */
  reset(): void {
    this.types.length = 0;
    this.ends.length = 0;
    this.length = 0;
    this.unknown.length = 0;
    this.exclude.length = 0;
    this.excludeLength = 0;
    this.num = this.from = undefined;
    this.backfill = this.excludeSeen = undefined;
  }

  /**
   * Appends an item to the current list.
   *
   * @param item A term number, or `-1 - u` for `unknown[u]`.
   */
  push(item: number): void {
    if (this.length === this.items.length) {
      const grown = new Int32Array(2 * this.items.length);
      grown.set(this.items);
      this.items = grown;
    }
    this.items[this.length++] = item;
  }

  /**
   * Appends an id the model does not have to the current list.
   *
   * @param id The id.
   */
  pushUnknown(id: string): void {
    this.push(-1 - this.unknown.length);
    this.unknown.push(id);
  }

  /**
   * Ends the current list.
   *
   * @param type Its event type.
   */
  endList(type: string): void {
    this.types.push(type);
    this.ends.push(this.length);
  }
}

/** Scratch of fast plans (see {@linkcode FastPlanContext}). */
export class FastPlanScratch {
  /** The request, looked up. */
  terms: TermRequest = new TermRequest();
  /** The plan's builder. */
  builder: PlanBuilder = new PlanBuilder(0);
  /**
   * Whether a request object is being read into `terms`: its getters or
   * proxies run code, which may ask the same recommender again; that
   * request is read into a `TermRequest` of its own (it is planned and
   * ranked before the outer one's reading goes on).
   */
  reading = false;
}

// the keys a fast plan reads; any other key takes the general path
const FAST_KEYS = new Set([
  "history",
  "num",
  "from",
  "backfill",
  "excludeSeen",
  "exclude",
]);

/**
 * The plan of a request made only of histories, paging, `exclude`,
 * `excludeSeen` and `backfill`, exactly as {@linkcode planOf} would make it
 * from `normalizeRequest`'s answer; `undefined` for any other request
 * (another key, an invalid value, an unknown event type, an engine
 * availability window), which then takes the general path. The plan is
 * the context's scratch: rank it before the next plan is made.
 *
 * @param index The postings.
 * @param request The raw request.
 * @param context The model's event types and the serving settings.
 * @returns The plan, or `undefined`.
 */
export function fastPlan(
  index: PostingsIndex,
  request: unknown,
  context: FastPlanContext,
): Plan | undefined {
  if (
    typeof request !== "object" || request === null || Array.isArray(request)
  ) return undefined;
  for (const key of Object.keys(request)) {
    if (!FAST_KEYS.has(key)) return undefined;
  }
  const { serving } = context;
  // the window is checked at the request's instant: normalizeRequest's
  if (serving.availableDateName || serving.expireDateName) return undefined;
  if (!isRequestShape(request)) return undefined;
  const req = request as RecommendRequest;
  const scratch = context.scratch ??= new FastPlanScratch();
  // read while another request is (its getter asking again): its own
  const nested = scratch.reading;
  const r = nested ? new TermRequest() : scratch.terms;
  scratch.reading = true;
  try {
    if (!readTerms(index, req, context, r)) return undefined;
  } finally {
    if (!nested) scratch.reading = false;
  }
  return planTerms(index, r, context);
}

// the request's values and its ids looked up into `r`; false for an event
// type the model lacks
function readTerms(
  index: PostingsIndex,
  req: RecommendRequest,
  context: FastPlanContext,
  r: TermRequest,
): boolean {
  const { historyFields, primaryEvent } = context;
  r.reset();
  r.num = req.num;
  r.from = req.from;
  r.backfill = req.backfill;
  r.excludeSeen = req.excludeSeen;
  const { termIds } = index;
  const addList = (type: string, list: readonly string[]) => {
    for (const item of list) {
      const t = termIds.get(item);
      if (t === undefined) r.pushUnknown(item);
      else r.push(t);
    }
    r.endList(type);
  };
  // each history list by event type, in the request's order
  const history = req.history;
  if (Array.isArray(history)) {
    addList(primaryEvent, history);
  } else if (history !== undefined) {
    const byType = history as Readonly<Record<string, readonly string[]>>;
    for (const [type, list] of Object.entries(byType)) {
      if (list === undefined) continue;
      if (!historyFields.has(type)) return false;
      addList(type, list);
    }
  }
  if (req.exclude !== undefined) {
    r.excludeLength = req.exclude.length;
    for (const id of req.exclude) {
      const t = termIds.get(id);
      if (t !== undefined) r.exclude.push(t);
    }
  }
  return true;
}

/**
 * The plan of a looked-up request of the fast shape (see
 * {@linkcode fastPlan}; its event types are the model's), or `undefined`
 * when it needs the general path (a window past the largest, a list longer
 * than accepted, an engine availability window). The plan is the
 * context's scratch: rank it before the next plan is made.
 *
 * @param index The postings.
 * @param r The request.
 * @param context The model's event types and the serving settings.
 * @returns The plan, or `undefined`.
 */
export function planTerms(
  index: PostingsIndex,
  r: TermRequest,
  context: FastPlanContext,
): Plan | undefined {
  const { serving, historyFields, primaryEvent } = context;
  if (serving.availableDateName || serving.expireDateName) return undefined;
  const num = r.num ?? serving.num;
  const from = r.from ?? 0;
  if (from + num > MAX_WINDOW) return undefined;
  const cap = serving.maxQueryEvents;
  let capacity = 0;
  for (let l = 0, start = 0; l < r.types.length; start = r.ends[l++]) {
    const length = r.ends[l] - start;
    // more distinct items than accepted is an error to word
    if (length > MAX_HISTORY) return undefined;
    capacity += Math.min(length, cap);
  }
  if (r.excludeLength > MAX_HISTORY) return undefined;
  const b = (context.scratch ??= new FastPlanScratch()).builder;
  b.reset(capacity);
  const size = index.size;
  const excludeSeen = r.excludeSeen ?? serving.excludeSeen;
  const seen = context.seen;
  const items = r.items;
  let clauses = 0;
  for (let l = 0, start = 0; l < r.types.length; start = r.ends[l++]) {
    const type = r.types[l];
    const field = historyFields.get(type)!;
    const fieldIndex = index.fields.get(field);
    const boost = serving.fieldBoosts[field] ?? 1;
    const primary = type === primaryEvent;
    // the list's distinct items, first occurrences in order: the first
    // `cap` are clauses; the primary type's are all excluded as seen
    let kept = 0;
    let unknown: Set<string> | undefined;
    try {
      for (let i = start, end = r.ends[l]; i < end; i++) {
        const t = items[i];
        if (t < 0) {
          // an id the model does not have: no match, but a clause
          const item = r.unknown[-1 - t];
          unknown ??= new Set();
          if (unknown.has(item)) continue;
          unknown.add(item);
        } else {
          if (seen[t] !== 0) continue;
          seen[t] = 1;
          if (kept < cap && fieldIndex) {
            b.add(fieldIndex, t, boost, clauses + kept);
          }
          if (primary && excludeSeen && t < size) b.excludeDoc(t);
        }
        kept++;
      }
    } finally {
      for (let i = start, end = r.ends[l]; i < end; i++) {
        if (items[i] >= 0) seen[items[i]] = 0;
      }
    }
    clauses += Math.min(kept, cap);
  }
  for (const t of r.exclude) {
    if (t < size) b.excludeDoc(t);
  }
  return b.plan(clauses, {
    num,
    from,
    window: from + num,
    backfill: r.backfill ?? serving.backfill,
    explain: false,
    clauses: [],
    rankBy: serving.rankBy,
    filters: serving.filters,
    boosts: serving.boosts,
  });
}
