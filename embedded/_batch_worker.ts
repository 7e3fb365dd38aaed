/**
 * Internal: the embedded backend's batch worker (see
 * `EmbeddedRecommender.batchWorker`): a copy of the recommender made from
 * the state it is sent, answering batch chunks.
 *
 * @module
 */

import { EmbeddedRecommender } from "./recommender.ts";
import { serveBatchWorker } from "../serving/batch_worker.ts";

serveBatchWorker((state) => EmbeddedRecommender.fromBatchState(state));
