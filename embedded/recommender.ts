/**
 * The embedded backend: an in-process inverted index over indicator
 * documents that answers {@linkcode Recommender} requests with the same
 * ranking and scores Elasticsearch gives for the same documents and query
 * (BM25 on a `keyword` field, or the indicator's weight on a `sparse_vector`
 * field, summed over matched history items; ties by id).
 * No server needed: used by `deno task demo`, by `recommend` when no
 * `ES_URL` is set, and by offline evaluation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EmbeddedRecommender } from "./recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [
 *   { id: "tent", indicators: ["stove", "lamp"] },
 *   { id: "stove", indicators: ["tent"] },
 *   { id: "lamp", indicators: ["tent"] },
 * ];
 * const recommender = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * const recs = await recommender.recommend({ history: ["tent"] });
 * // equal scores: by id
 * assert.deepEqual(recs.map((r) => r.id), ["lamp", "stove"]);
 * ```
 *
 * @module
 */

import {
  fastPlan,
  type FastPlanContext,
  FastPlanScratch,
  type FieldIndex,
  indexDocuments,
  type Plan,
  planOf,
  planTerms,
  type PostingsIndex,
  TermRequest,
} from "./_plan.ts";
import { LineReader } from "./_batch_line.ts";
import { DenseKernel } from "./_kernel.ts";
import { DeadlineError, ModelError } from "../errors/mod.ts";
import { applyDither } from "../serving/dither.ts";
import type {
  IndexableDocument,
  ItemMetadata,
  MetadataValue,
} from "../model/document.ts";
import { indicatorFieldsOf } from "../model/fields.ts";
import {
  historyFields,
  type MetadataType,
  type Model,
  type ModelManifest,
} from "../model/manifest.ts";
import { dateMillis } from "../model/items.ts";
import {
  addItemIndicators,
  checkServingOptions,
  type Filter,
  type ItemIndicators,
  normalizeRequest,
  type Recommendation,
  type RecommendOptions,
  type RecommendRequest,
  type ResolvedServing,
  resolveServing,
  type ServingOptions,
} from "../serving/request.ts";
import { compareIds } from "../model/document.ts";
import type { BatchWorkerSource } from "../serving/batch_worker.ts";
import type {
  BatchLineAnswerer,
  BatchResult,
  ForkableRecommender,
} from "../serving/batch.ts";

/**
 * In-memory recommender over a model's documents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EmbeddedRecommender } from "./recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }];
 * const r = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * assert.equal(r.size, 1);
 * ```
 */
export class EmbeddedRecommender
  implements ForkableRecommender, BatchLineAnswerer {
  #ids: string[] = [];
  #docs: IndexableDocument[] = [];
  #byId = new Map<string, number>();
  #metadata: (ItemMetadata | undefined)[] = [];
  #index: PostingsIndex;
  #fastContext: FastPlanContext;
  #manifest: ModelManifest;
  #options: ServingOptions;
  // what every batch's workers are sent, but the postings
  #batchState: Omit<BatchState, "fields"> | undefined;
  // batch lines read from their bytes (made on first use)
  #lines: LineReader | undefined;
  // scratch of one request (requests run one at a time: #recommend is
  // synchronous): score sums, touched documents, exclusions
  #sums: Float64Array;
  #kernel: DenseKernel | undefined;
  #touched: Int32Array;
  #mark: Uint8Array;
  #top = new TopDocs();
  #serving: ResolvedServing;
  // documents in rankBy order (desc, missing last), then id, by rankBy list:
  // the backfill order
  #rankOrders = new Map<string, Int32Array>();
  // each rankBy field's values (missing: -Infinity)
  #rankValues = new Map<string, Float64Array>();
  #tieBreaks = new Map<string, (x: number, y: number) => number>();
  #lastRankBy: readonly string[] | undefined;
  #lastTie: ((x: number, y: number) => number) | undefined;

  /**
   * Indexes the model's documents. A later document with an id already seen
   * replaces the earlier one, as indexing into Elasticsearch would.
   *
   * @param model The manifest and the documents (with optional `metadata`).
   * @param options Serving settings (`maxQueryEvents`, default field
   * boosts) over the manifest's.
   * @throws {ConfigError} For an invalid serving setting.
   * @throws {ModelError} When a document disagrees with the manifest.
   */
  constructor(model: Model, options: ServingOptions = {}) {
    checkServingOptions(options);
    this.#manifest = model.manifest;
    this.#serving = resolveServing(model.manifest, options);
    const byId = new Map<string, IndexableDocument>();
    for (const doc of model.documents) byId.set(doc.id, doc);
    for (const [id, doc] of byId) {
      this.#byId.set(id, this.#ids.length);
      this.#ids.push(id);
      this.#docs.push(doc);
      this.#metadata.push(doc.metadata);
    }
    this.#options = options;
    // a batch worker's copy comes with the index built (fromBatchState)
    const index = PREBUILT.get(model.documents) ??
      indexDocuments(this.#docs, model.manifest);
    const n = this.#ids.length;
    // the postings in WebAssembly memory, for the dense loop (a very large
    // index stays as it is, with the JavaScript loops)
    this.#kernel = DenseKernel.place(index.fields, n);
    this.#index = this.#kernel
      ? { ...index, fields: this.#kernel.fields }
      : index;
    this.#fastContext = {
      primaryEvent: model.manifest.primaryEvent,
      historyFields: historyFields(model.manifest),
      serving: this.#serving,
      seen: new Uint8Array(this.#index.termIds.size),
      scratch: new FastPlanScratch(),
    };
    this.#sums = this.#kernel?.sums ?? new Float64Array(n);
    this.#touched = new Int32Array(n);
    this.#mark = new Uint8Array(n);
  }

  /**
   * Where batch workers come from (see `recommendBatch`'s `workers`): the
   * worker module, and this recommender's documents, settings and index as
   * one structured-cloneable state, so that a worker holds the same index
   * without building it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EmbeddedRecommender } from "./recommender.ts";
   * import { manifestFor } from "../model/manifest.ts";
   *
   * const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: ["a"] }];
   * const r = new EmbeddedRecommender({
   *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
   *   documents,
   * }, { num: 1 });
   * const source = r.batchWorker();
   * assert.match(source.module, /_batch_worker\.ts$/);
   * // what a worker makes of the state, after the copy postMessage makes
   * const copy = EmbeddedRecommender.fromBatchState(structuredClone(source.state));
   * assert.deepEqual(await copy.recommend({ history: ["b"] }), await r.recommend({ history: ["b"] }));
   * ```
   *
   * @returns The worker module's URL and the state.
   */
  batchWorker(): BatchWorkerSource {
    const state: BatchState = {
      ...(this.#batchState ??= batchStateOf(
        this.#manifest,
        this.#options,
        this.#docs,
        this.#index,
      )),
      // a placed index's arrays are views of its kernel's memory (a clone
      // of a view copies all of it): copies, made for this batch only, not
      // kept (they are as large as the index)
      fields: this.#kernel
        ? [...this.#index.fields].map(([name, f]) => [name, {
          ...f,
          docs: f.docs.slice(),
          ...(f.weights ? { weights: f.weights.slice() } : {}),
        }])
        : [...this.#index.fields],
    };
    return {
      module: new URL("./_batch_worker.ts", import.meta.url).href,
      state,
    };
  }

  /**
   * The recommender a batch worker makes from {@linkcode batchWorker}'s
   * state: the same answers, the index not rebuilt.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EmbeddedRecommender } from "./recommender.ts";
   * import { manifestFor } from "../model/manifest.ts";
   *
   * const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: [] }];
   * const r = new EmbeddedRecommender({
   *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
   *   documents,
   * });
   * const copy = EmbeddedRecommender.fromBatchState(r.batchWorker().state);
   * assert.equal(copy.size, 2);
   * ```
   *
   * @param state {@linkcode batchWorker}'s state (or a structured clone).
   * @returns The recommender.
   */
  static fromBatchState(state: unknown): EmbeddedRecommender {
    const { manifest, options, documents, index } = fromBatchState(
      state as BatchState,
    );
    PREBUILT.set(documents, index);
    try {
      return new EmbeddedRecommender({ manifest, documents }, options);
    } finally {
      PREBUILT.delete(documents);
    }
  }

  /** Number of documents indexed. */
  get size(): number {
    return this.#ids.length;
  }

  /**
   * The model's manifest.
   *
   * @returns The manifest.
   */
  manifest(): Promise<ModelManifest> {
    return Promise.resolve(this.#manifest);
  }

  /**
   * Ranks documents by the summed strength of the history's matches in
   * their indicator fields (weight, or BM25 on unweighted fields; plus
   * metadata boosts), applies filters and exclusions, pages, and backfills
   * with popular items, as the Elasticsearch backend does.
   *
   * @param request History, rules and paging.
   * @param options An abort signal (checked before the work starts).
   * @returns Up to `num` recommendations, best first, ties by id.
   * @throws {RequestError} On a malformed request.
   * @throws {DeadlineError} When the signal has fired.
   */
  recommend(
    request: RecommendRequest,
    options: RecommendOptions = {},
  ): Promise<Recommendation[]> {
    try {
      if (options.signal?.aborted) {
        throw new DeadlineError("the request was aborted");
      }
      return Promise.resolve(this.#recommend(request));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // a number field's values by document (missing: -Infinity, last in
  // descending order, as Elasticsearch's `missing: _last`)
  #rankValue(field: string): Float64Array {
    let v = this.#rankValues.get(field);
    if (!v) {
      v = Float64Array.from(this.#metadata, (m) => {
        const x = m?.[field];
        return typeof x === "number" ? x : -Infinity;
      });
      this.#rankValues.set(field, v);
    }
    return v;
  }

  // documents by the rankBy fields (desc), then id: the backfill order
  #rankOrder(rankBy: readonly string[]): Int32Array {
    const key = rankBy.join("\u0000");
    let order = this.#rankOrders.get(key);
    if (!order) {
      const compare = this.#tieBreak(rankBy);
      order = Int32Array.from(
        Array.from(this.#ids.keys()).sort(compare),
      );
      this.#rankOrders.set(key, order);
    }
    return order;
  }

  // the order of equal scores: rankBy fields descending, then id (one
  // function per rankBy list)
  #tieBreak(rankBy: readonly string[]): (x: number, y: number) => number {
    // the same list as the last request's (the serving default): its
    // function, without making the key
    if (rankBy === this.#lastRankBy) return this.#lastTie!;
    const key = rankBy.join("\u0000");
    let tie = this.#tieBreaks.get(key);
    if (!tie) this.#tieBreaks.set(key, tie = this.#newTieBreak(rankBy));
    this.#lastRankBy = rankBy;
    this.#lastTie = tie;
    return tie;
  }

  #newTieBreak(rankBy: readonly string[]): (x: number, y: number) => number {
    const columns = rankBy.map((f) => this.#rankValue(f));
    return (x, y) => {
      for (const c of columns) {
        if (c[x] !== c[y]) return c[y] > c[x] ? 1 : -1;
      }
      return compareIds(this.#ids[x], this.#ids[y]);
    };
  }

  // a query item's indicator lists, as addItemIndicators takes them
  #indicatorsOf(id: string): ItemIndicators | undefined {
    const d = this.#byId.get(id);
    if (d === undefined) return undefined;
    const doc = this.#docs[d];
    const out: Record<
      string,
      { ids: readonly string[]; weights?: readonly number[] }
    > = {};
    for (const [field, ids] of indicatorFieldsOf(doc)) {
      const weights = doc.weights?.[field];
      out[field] = weights ? { ids, weights } : { ids };
    }
    return out;
  }

  /**
   * Answers one line of an NDJSON batch straight from its bytes when it is
   * a plain one (printable ASCII without escapes, the keys `user`,
   * `history`, `num`, `from`, `exclude`, `excludeSeen`, `backfill`, a
   * valid request): the result `recommend` gives for the line's request,
   * without parsing it into objects. Any other line is declined
   * (`undefined`) and answered the general way. Batch files
   * (`recommendBatchFile`, `recommend --batch`) ask it first.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EmbeddedRecommender } from "./recommender.ts";
   * import { manifestFor } from "../model/manifest.ts";
   *
   * const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: [] }];
   * const r = new EmbeddedRecommender({
   *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
   *   documents,
   * });
   * const line = new TextEncoder().encode('{"user":"u","history":["b"],"num":1}');
   * const [one] = await r.recommend({ history: ["b"], num: 1 });
   * assert.deepEqual(r.answerBatchLine(line, 0, line.length), {
   *   user: "u",
   *   items: ["a"],
   *   scores: [one.score],
   * });
   * // a rule: the general path answers it
   * const rule = new TextEncoder().encode('{"user":"u","history":["b"],"filters":[]}');
   * assert.equal(r.answerBatchLine(rule, 0, rule.length), undefined);
   * ```
   *
   * @param bytes UTF-8 lines.
   * @param start The line's first byte.
   * @param end Its end (exclusive, before its `\n`).
   * @returns The result, or `undefined` for a line to answer the general
   * way.
   */
  answerBatchLine(
    bytes: Uint8Array,
    start: number,
    end: number,
  ): BatchResult | undefined {
    const context = this.#fastContext;
    const scratch = context.scratch!;
    // asked while a request object is read (from its getter): a request
    // of its own
    const terms = scratch.reading ? new TermRequest() : scratch.terms;
    this.#lines ??= new LineReader(
      this.#index.termIds,
      context.historyFields,
      context.primaryEvent,
    );
    const user = this.#lines.read(bytes, start, end, terms);
    if (user === undefined) return undefined;
    const plan = planTerms(this.#index, terms, context);
    if (!plan) return undefined;
    const recs = this.#rank(plan);
    const items = new Array<string>(recs.length);
    const scores = new Array<number>(recs.length);
    for (let i = 0; i < recs.length; i++) {
      items[i] = recs[i].id;
      scores[i] = recs[i].score;
    }
    return { user, items, scores };
  }

  #recommend(request: RecommendRequest): Recommendation[] {
    return this.#rank(
      fastPlan(this.#index, request, this.#fastContext) ??
        this.#plan(request),
    );
  }

  // the general path: every feature, and the errors' wording
  #plan(request: RecommendRequest): Plan {
    let r = normalizeRequest(request, this.#manifest, this.#serving);
    if (r.lookup) {
      const found = new Map<string, ItemIndicators>();
      for (const item of r.lookup.items) {
        const lists = this.#indicatorsOf(item);
        if (lists) found.set(item, lists);
      }
      r = addItemIndicators(r, this.#manifest, found);
    }
    return planOf(this.#index, r);
  }

  #rank(plan: Plan): Recommendation[] {
    const r = plan.options;
    const types = this.#manifest.metadata;
    const sums = this.#sums, touched = this.#touched, mark = this.#mark;
    const n = this.#ids.length;
    // many matches for few documents: add into every document's slot and
    // scan them all after, rather than track the documents touched
    const dense = plan.positive && !r.explain && plan.postings > 0 &&
      plan.postings * DENSE_RATIO >= n;
    let nTouched = 0;
    // mark: 1 scored (sparse), 2 excluded; reset before returning, and the
    // sums to 0
    const matched = r.explain ? new Map<number, number[]>() : undefined;
    const excluded: number[] = [];
    try {
      // the postings loops are small functions of their own, compiled apart
      // from this large method (MovieLens-100k batch: ~10% less time in
      // the kernel than with the loop over runs here)
      if (dense) addDense(plan, sums, this.#kernel);
      else nTouched = addSparse(plan, sums, mark, touched);
      if (matched) {
        for (let k = 0; k < plan.count; k++) {
          const docs = plan.index[k].docs, c = plan.clause[k];
          for (let p = plan.start[k]; p < plan.end[k]; p++) {
            const m = matched.get(docs[p]);
            if (m) m.push(c);
            else matched.set(docs[p], [c]);
          }
        }
      }
      for (const d of plan.exclude) {
        if ((mark[d] & 2) === 0) {
          mark[d] |= 2;
          excluded.push(d);
        }
      }
      const filters = r.filters, boosts = r.boosts;
      const passes = (d: number) =>
        (mark[d] & 2) === 0 &&
        (filters.length === 0 ||
          filters.every((f) =>
            matchesFilter(this.#metadata[d], f, types[f.field]) !== !!f.not
          ));
      // the boosts an item earns: their float sum, as Lucene sums them
      const boostOf = (d: number) => {
        let sum = 0, boosted = false;
        for (const b of boosts) {
          if (
            b.values.some((v) =>
              hasValue(this.#metadata[d], b.field, v, types[b.field])
            )
          ) {
            sum += Math.fround(b.boost);
            boosted = true;
          }
        }
        return boosted ? Math.fround(sum) : undefined;
      };
      // the best `window` matches, by score, then rankBy, then id: a
      // bounded heap
      const top = this.#top;
      top.reset(Math.max(1, r.window), this.#tieBreak(r.rankBy));
      // a match's score: the history bool's sum as a float (Lucene), plus
      // the boosts' sum
      const offer = (d: number) => {
        const score = Math.fround(sums[d]);
        const boost = boosts.length ? boostOf(d) : undefined;
        top.offer(d, boost === undefined ? score : Math.fround(score + boost));
      };
      if (dense) {
        if (filters.length === 0 && boosts.length === 0) {
          top.offerSums(sums, mark, n);
        } else {
          for (let d = 0; d < n; d++) {
            if (sums[d] === 0 || (mark[d] & 2) !== 0) continue;
            if (passes(d)) offer(d);
          }
        }
      } else if (plan.clauses > 0) {
        for (let t = 0; t < nTouched; t++) {
          const d = touched[t];
          if (passes(d)) offer(d);
        }
      } else if (boosts.length > 0) {
        // no history: the boosts rank the items they match
        for (let d = 0; d < n; d++) {
          const boost = boostOf(d);
          if (boost !== undefined && passes(d)) top.offer(d, boost);
        }
      }
      const drained = top.drain();
      const ranked = drained.map(({ doc, score }): Recommendation => {
        const rec: Recommendation = { id: this.#ids[doc], score };
        if (matched) {
          rec.because = (matched.get(doc) ?? []).map((c) => ({
            field: r.clauses[c].field,
            item: r.clauses[c].item,
          }));
        }
        return rec;
      });
      const want = r.from + r.num;
      const list = applyDither(ranked, r).slice(0, want);
      // fewer matches than wanted: the heap held every match
      if (r.backfill && list.length < want) {
        const taken = new Set(drained.map((x) => x.doc));
        for (const d of this.#rankOrder(r.rankBy)) {
          if (list.length >= want) break;
          if (taken.has(d) || !passes(d)) continue;
          list.push({ id: this.#ids[d], score: 0, backfill: true });
        }
      }
      return list.slice(r.from);
    } finally {
      if (dense) sums.fill(0);
      for (let t = 0; t < nTouched; t++) {
        mark[touched[t]] = 0;
        sums[touched[t]] = 0;
      }
      for (const d of excluded) mark[d] = 0;
    }
  }
}

// What batch workers are sent: the distinct documents, so that the index
// built over them is the one a new recommender would build, and the index.
// Structured clone copies typed arrays at memory speed but strings one by
// one, so every string is sent once: the index's terms in number order, and
// each document's indicator lists as term numbers (weights as Float64Array).
// Only what the recommender reads of a document is sent: id, indicator
// lists, weights, metadata.
interface BatchState {
  manifest: ModelManifest;
  options: ServingOptions;
  size: number;
  terms: string[];
  fields: [string, FieldIndex][];
  documents: {
    // each indicator field (in the document's key order): its term numbers
    lists: [string, Int32Array][];
    weights?: [string, Float64Array][];
    metadata?: ItemMetadata;
  }[];
}

function batchStateOf(
  manifest: ModelManifest,
  options: ServingOptions,
  docs: readonly IndexableDocument[],
  index: PostingsIndex,
): Omit<BatchState, "fields"> {
  const terms = new Array<string>(index.termIds.size);
  for (const [term, t] of index.termIds) terms[t] = term;
  const termOf = (id: string) => {
    const t = index.termIds.get(id);
    // every listed id is a term (indexDocuments numbers them all)
    if (t === undefined) throw new ModelError(`"${id}" is not indexed`);
    return t;
  };
  // plain loops: TypedArray.from goes through the iterator protocol
  // (MovieLens-100k: 84 ms of the main thread before any worker started)
  const documents = new Array<BatchState["documents"][number]>(docs.length);
  for (let d = 0; d < docs.length; d++) {
    const doc = docs[d];
    const sent: BatchState["documents"][number] = {
      lists: indicatorFieldsOf(doc).map(([field, ids]) => {
        const list = new Int32Array(ids.length);
        for (let i = 0; i < ids.length; i++) list[i] = termOf(ids[i]);
        return [field, list];
      }),
    };
    if (doc.weights) {
      sent.weights = Object.entries(doc.weights).map(([field, w]) => {
        const copy = new Float64Array(w.length);
        for (let i = 0; i < w.length; i++) copy[i] = w[i];
        return [field, copy];
      });
    }
    if (doc.metadata !== undefined) sent.metadata = doc.metadata;
    documents[d] = sent;
  }
  return {
    manifest,
    options,
    size: index.size,
    terms,
    documents,
  };
}

function fromBatchState(state: BatchState): {
  manifest: ModelManifest;
  options: ServingOptions;
  documents: IndexableDocument[];
  index: PostingsIndex;
} {
  const { terms, size } = state;
  const termIds = new Map<string, number>();
  terms.forEach((term, t) => termIds.set(term, t));
  const documents = state.documents.map((sent, d) => {
    const doc: Record<string, unknown> = { id: terms[d] };
    // plain loops: Array.from over a typed array goes through its iterator
    // (a worker's start took as long as building the index anew)
    for (const [field, list] of sent.lists) {
      const ids = new Array<string>(list.length);
      for (let i = 0; i < list.length; i++) ids[i] = terms[list[i]];
      doc[field] = ids;
    }
    if (sent.weights) {
      doc.weights = Object.fromEntries(sent.weights.map(([field, w]) => {
        const copy = new Array<number>(w.length);
        for (let i = 0; i < w.length; i++) copy[i] = w[i];
        return [field, copy];
      }));
    }
    if (sent.metadata !== undefined) doc.metadata = sent.metadata;
    return doc as unknown as IndexableDocument;
  });
  return {
    manifest: state.manifest,
    options: state.options,
    documents,
    index: { size, termIds, fields: new Map(state.fields) },
  };
}

// an index handed to the constructor by fromBatchState
const PREBUILT = new WeakMap<readonly IndexableDocument[], PostingsIndex>();

// Dense: every run's matches added into their documents' slots, in clause
// order (by the WebAssembly loop when the index is placed in its memory).
function addDense(
  plan: Plan,
  sums: Float64Array,
  kernel: DenseKernel | undefined,
): void {
  for (let k = 0; k < plan.count; k++) {
    const index = plan.index[k];
    const start = plan.start[k], end = plan.end[k], score = plan.score[k];
    if (kernel) {
      kernel.add(index, start, end, score);
      continue;
    }
    const { docs, weights } = index;
    if (weights) addWeights(docs, weights, start, end, score, sums);
    else addScore(docs, start, end, score, sums);
  }
}

// Sparse: the same, marking the documents touched; returns how many.
function addSparse(
  plan: Plan,
  sums: Float64Array,
  mark: Uint8Array,
  touched: Int32Array,
): number {
  let nTouched = 0;
  for (let k = 0; k < plan.count; k++) {
    const { docs, weights } = plan.index[k];
    const start = plan.start[k], end = plan.end[k], score = plan.score[k];
    nTouched = weights
      ? accumulateWeights(
        docs,
        weights,
        start,
        end,
        score,
        sums,
        mark,
        touched,
        nTouched,
      )
      : accumulateScore(docs, start, end, score, sums, mark, touched, nTouched);
  }
  return nTouched;
}

// Dense accumulation once the postings are at least a quarter of the
// documents.
const DENSE_RATIO = 4;

// Dense: adds boost × weight (in float) of the postings `start` to `end`
// into their documents' slots; sums start at 0 and, every addition being
// > 0, a matched document's sum is > 0. The same double sums in the same
// clause order as below.
function addWeights(
  docs: Int32Array,
  weights: Float32Array,
  start: number,
  end: number,
  boost: number,
  sums: Float64Array,
): void {
  // four postings a step, their documents read first: a run's documents
  // are distinct, so each sum still takes its additions in clause order
  // (MovieLens-100k: 2.4 ns a posting against 4.3 one at a time)
  let p = start;
  if (boost === 1) {
    // fround(1 × w) is w: a stored weight is a float
    for (; p + 4 <= end; p += 4) {
      const d0 = docs[p], d1 = docs[p + 1], d2 = docs[p + 2], d3 = docs[p + 3];
      sums[d0] += weights[p];
      sums[d1] += weights[p + 1];
      sums[d2] += weights[p + 2];
      sums[d3] += weights[p + 3];
    }
    for (; p < end; p++) sums[docs[p]] += weights[p];
    return;
  }
  for (; p + 4 <= end; p += 4) {
    const d0 = docs[p], d1 = docs[p + 1], d2 = docs[p + 2], d3 = docs[p + 3];
    sums[d0] += Math.fround(boost * weights[p]);
    sums[d1] += Math.fround(boost * weights[p + 1]);
    sums[d2] += Math.fround(boost * weights[p + 2]);
    sums[d3] += Math.fround(boost * weights[p + 3]);
  }
  for (; p < end; p++) sums[docs[p]] += Math.fround(boost * weights[p]);
}

// Dense, keyword field: one BM25 score for every posting.
function addScore(
  docs: Int32Array,
  start: number,
  end: number,
  score: number,
  sums: Float64Array,
): void {
  let p = start;
  for (; p + 4 <= end; p += 4) {
    const d0 = docs[p], d1 = docs[p + 1], d2 = docs[p + 2], d3 = docs[p + 3];
    sums[d0] += score;
    sums[d1] += score;
    sums[d2] += score;
    sums[d3] += score;
  }
  for (; p < end; p++) sums[docs[p]] += score;
}

// Adds boost × weight (in float, Lucene's linear feature query) to each
// posting's document; sums in double in clause order, as Lucene's
// disjunction sums. Marks first-touched documents. Returns the new count.
function accumulateWeights(
  docs: Int32Array,
  weights: Float32Array,
  start: number,
  end: number,
  boost: number,
  sums: Float64Array,
  mark: Uint8Array,
  touched: Int32Array,
  nTouched: number,
): number {
  for (let p = start; p < end; p++) {
    const d = docs[p];
    const add = Math.fround(boost * weights[p]);
    if ((mark[d] & 1) === 0) {
      mark[d] |= 1;
      sums[d] = add;
      touched[nTouched++] = d;
    } else sums[d] += add;
  }
  return nTouched;
}

// The same for a keyword field: one BM25 score for every posting.
function accumulateScore(
  docs: Int32Array,
  start: number,
  end: number,
  score: number,
  sums: Float64Array,
  mark: Uint8Array,
  touched: Int32Array,
  nTouched: number,
): number {
  for (let p = start; p < end; p++) {
    const d = docs[p];
    if ((mark[d] & 1) === 0) {
      mark[d] |= 1;
      sums[d] = score;
      touched[nTouched++] = d;
    } else sums[d] += score;
  }
  return nTouched;
}

// The first document from `d` on whose sum, as a float, is at least
// `floor` (`n` if none): the scan that refuses almost every document, in a
// loop of its own
function atLeast(
  sums: Float64Array,
  d: number,
  n: number,
  floor: number,
): number {
  while (d < n && Math.fround(sums[d]) < floor) d++;
  return d;
}

/**
 * The best `size` documents offered, by score (descending) then the tie
 * order: a min-heap whose root is the worst kept. One per recommender,
 * reset for each request.
 */
class TopDocs {
  #docs = new Int32Array(16);
  #scores = new Float64Array(16);
  #capacity = 0;
  #size = 0;
  #tie: (x: number, y: number) => number = () => 0;
  // empty, to keep the best `capacity` documents, equal scores by `tie`
  reset(capacity: number, tie: (x: number, y: number) => number): void {
    if (this.#docs.length < capacity) {
      this.#docs = new Int32Array(capacity);
      this.#scores = new Float64Array(capacity);
    }
    this.#capacity = capacity;
    this.#size = 0;
    this.#tie = tie;
  }
  // Dense, no filters or boosts: offers every matched document not
  // excluded (`mark` bit 2), at its sum as a float. Every match added more
  // than 0 (a dense plan is positive), so a sum whose float is 0 is a
  // document not matched. The floor test comes first: once the heap is
  // full it refuses almost every document, without looking further.
  offerSums(sums: Float64Array, mark: Uint8Array, n: number): void {
    let d = 0;
    // until the heap is full, every match goes in
    for (; d < n && this.#size < this.#capacity; d++) {
      const score = Math.fround(sums[d]);
      if (score !== 0 && (mark[d] & 2) === 0) this.offer(d, score);
    }
    // then the worst kept is the floor, read again only after an offer
    const scores = this.#scores;
    for (; (d = atLeast(sums, d, n, scores[0])) < n; d++) {
      const score = Math.fround(sums[d]);
      if (score !== 0 && (mark[d] & 2) === 0) this.offer(d, score);
    }
  }
  // whether (sa, da) ranks below (sb, db)
  #below(sa: number, da: number, sb: number, db: number): boolean {
    return sa < sb || (sa === sb && this.#tie(da, db) > 0);
  }
  offer(doc: number, score: number): void {
    const docs = this.#docs, scores = this.#scores;
    if (this.#size < this.#capacity) {
      let i = this.#size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.#below(score, doc, scores[parent], docs[parent])) break;
        docs[i] = docs[parent];
        scores[i] = scores[parent];
        i = parent;
      }
      docs[i] = doc;
      scores[i] = score;
      return;
    }
    if (!this.#below(scores[0], docs[0], score, doc)) return;
    this.#siftDown(doc, score, this.#size);
  }
  #siftDown(doc: number, score: number, size: number): void {
    const docs = this.#docs, scores = this.#scores;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (
        child + 1 < size &&
        this.#below(
          scores[child + 1],
          docs[child + 1],
          scores[child],
          docs[child],
        )
      ) child++;
      if (!this.#below(scores[child], docs[child], score, doc)) break;
      docs[i] = docs[child];
      scores[i] = scores[child];
      i = child;
    }
    docs[i] = doc;
    scores[i] = score;
  }
  /** The kept documents, best first; empties the heap. */
  drain(): { doc: number; score: number }[] {
    const out = new Array<{ doc: number; score: number }>(this.#size);
    while (this.#size > 0) {
      const n = --this.#size;
      out[n] = { doc: this.#docs[0], score: this.#scores[0] };
      if (n > 0) this.#siftDown(this.#docs[n], this.#scores[n], n);
    }
    return out;
  }
}

function values(
  meta: ItemMetadata | undefined,
  field: string,
): MetadataValue[] {
  const v = meta?.[field];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function hasValue(
  meta: ItemMetadata | undefined,
  field: string,
  wanted: string | number | boolean,
  type?: MetadataType,
): boolean {
  // a date compares as an instant (boost values arrive as unix ms)
  return values(meta, field).some((v) =>
    type === "date" ? dateMillis(v) === dateMillis(wanted) : v === wanted
  );
}

function compare(
  a: MetadataValue,
  b: number | string,
  type: MetadataType | undefined,
): number {
  if (type === "date") return dateMillis(a)! - dateMillis(b)!;
  if (typeof a === "number") return a - Number(b);
  return compareCodePoints(String(a), String(b));
}

// text in code point order, as Lucene orders keyword terms (by their UTF-8
// bytes); JavaScript's < compares UTF-16 units, which puts U+10000 and up
// before U+E000..U+FFFF
function compareCodePoints(x: string, y: string): number {
  for (let i = 0, j = 0; i < x.length && j < y.length;) {
    const a = x.codePointAt(i)!, b = y.codePointAt(j)!;
    if (a !== b) return a - b;
    i += a > 0xffff ? 2 : 1;
    j += b > 0xffff ? 2 : 1;
  }
  return (x.length - y.length) === 0 ? 0 : x.length < y.length ? -1 : 1;
}

/**
 * Whether item metadata passes a filter, as Elasticsearch's `term`, `terms`
 * and `range` queries judge it on the field's mapped type: numbers
 * numerically, dates as instants, keywords in code-unit order; a
 * multi-valued field matches when any value does. Filter values have been
 * checked against the type (see `normalizeRequest`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchesFilter } from "./recommender.ts";
 *
 * assert.ok(matchesFilter({ popularity: 7 }, { field: "popularity", gte: 5 }, "number"));
 * assert.ok(!matchesFilter({ category: "tents" }, { field: "category", values: ["stoves"] }, "keyword"));
 * // a date compares as an instant, a keyword as text
 * assert.ok(matchesFilter({ d: "2015-06-01T00:00:00.000Z" }, { field: "d", gt: "2015-06-01T01:00:00+02:00" }, "date"));
 * assert.ok(!matchesFilter({ d: "2015-06-01T00:00:00.000Z" }, { field: "d", gt: "2015-06-01T01:00:00+02:00" }, "keyword"));
 * ```
 *
 * @param meta Item metadata.
 * @param filter The filter.
 * @param type The field's type in the model (`undefined` when no item has it).
 * @returns True when the item passes.
 */
export function matchesFilter(
  meta: ItemMetadata | undefined,
  filter: Filter,
  type?: MetadataType,
): boolean {
  const equal = (v: MetadataValue, wanted: string | number | boolean) =>
    type === "date" ? dateMillis(v) === dateMillis(wanted) : v === wanted;
  if (filter.value !== undefined) {
    return values(meta, filter.field).some((v) => equal(v, filter.value!));
  }
  if (filter.values !== undefined) {
    return values(meta, filter.field).some((v) =>
      filter.values!.some((w) => equal(v, w))
    );
  }
  return values(meta, filter.field).some((v) =>
    (filter.gte === undefined || compare(v, filter.gte, type) >= 0) &&
    (filter.gt === undefined || compare(v, filter.gt, type) > 0) &&
    (filter.lte === undefined || compare(v, filter.lte, type) <= 0) &&
    (filter.lt === undefined || compare(v, filter.lt, type) < 0)
  );
}
