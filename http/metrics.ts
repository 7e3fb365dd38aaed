/**
 * Prometheus metrics of the HTTP service, in the text exposition format
 * (version 0.0.4) served at `GET /metrics`:
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `cco_http_requests_total` | counter | `route`, `method`, `status` |
 * | `cco_http_request_duration_seconds` | histogram | `route` |
 * | `cco_http_requests_in_flight` | gauge | |
 * | `cco_backend_requests_total` | counter | `backend`, `outcome` (`ok`, or the error class) |
 * | `cco_backend_duration_seconds` | histogram | `backend` |
 *
 * Routes are the service's own (`/recommendations`, ...) or `other` for an
 * unknown path, so a scan of random paths cannot grow the label set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpMetrics } from "./metrics.ts";
 *
 * const metrics = new HttpMetrics();
 * metrics.request("/recommendations", "POST", 200, 0.004);
 * metrics.backend("embedded", "ok", 0.001);
 * const text = metrics.render();
 * assert.match(text, /^cco_http_requests_total\{route="\/recommendations",method="POST",status="200"\} 1$/m);
 * assert.match(text, /^cco_http_request_duration_seconds_bucket\{route="\/recommendations",le="0.005"\} 1$/m);
 * assert.match(text, /^cco_backend_duration_seconds_count\{backend="embedded"\} 1$/m);
 * ```
 *
 * @module
 */

/** Histogram bucket bounds in seconds: 1 ms to 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

// a label value, escaped as the exposition format wants
function escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(
    /"/g,
    '\\"',
  );
}

function labels(pairs: [string, string][]): string {
  return pairs.length
    ? `{${pairs.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`
    : "";
}

class Histogram {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length);
  sum = 0;
  count = 0;

  observe(seconds: number) {
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]) this.counts[i]++;
    }
    this.sum += seconds;
    this.count++;
  }

  render(name: string, pairs: [string, string][], out: string[]) {
    LATENCY_BUCKETS.forEach((le, i) =>
      out.push(
        `${name}_bucket${labels([...pairs, ["le", String(le)]])} ${
          this.counts[i]
        }`,
      )
    );
    out.push(
      `${name}_bucket${labels([...pairs, ["le", "+Inf"]])} ${this.count}`,
    );
    out.push(`${name}_sum${labels(pairs)} ${this.sum}`);
    out.push(`${name}_count${labels(pairs)} ${this.count}`);
  }
}

/**
 * The service's counters and histograms; one per handler.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpMetrics } from "./metrics.ts";
 *
 * const m = new HttpMetrics();
 * m.backend("elasticsearch", "UnavailableError", 0.2);
 * assert.match(m.render(), /cco_backend_requests_total\{backend="elasticsearch",outcome="UnavailableError"\} 1/);
 * ```
 */
export class HttpMetrics {
  #requests = new Map<string, number>();
  #latency = new Map<string, Histogram>();
  #backendCalls = new Map<string, number>();
  #backendLatency = new Map<string, Histogram>();
  #inFlight = 0;

  /** Marks a request as started (the in-flight gauge). */
  started(): void {
    this.#inFlight++;
  }

  /**
   * Records a finished request.
   *
   * @param route The route (or `other`).
   * @param method The HTTP method.
   * @param status The answer's status.
   * @param seconds How long it took.
   */
  request(
    route: string,
    method: string,
    status: number,
    seconds: number,
  ): void {
    const key = JSON.stringify([route, method, String(status)]);
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let h = this.#latency.get(route);
    if (!h) this.#latency.set(route, h = new Histogram());
    h.observe(seconds);
  }

  /** Marks a request as finished (the in-flight gauge). */
  finished(): void {
    this.#inFlight--;
  }

  /**
   * Records one call to the backend.
   *
   * @param backend Which backend (`embedded`, `elasticsearch`).
   * @param outcome `ok`, or the error class of a failure.
   * @param seconds How long it took.
   */
  backend(backend: string, outcome: string, seconds: number): void {
    const key = JSON.stringify([backend, outcome]);
    this.#backendCalls.set(key, (this.#backendCalls.get(key) ?? 0) + 1);
    let h = this.#backendLatency.get(backend);
    if (!h) this.#backendLatency.set(backend, h = new Histogram());
    h.observe(seconds);
  }

  /**
   * The metrics in the Prometheus text format.
   *
   * @returns The text, ending with a newline.
   */
  render(): string {
    const out: string[] = [];
    out.push(
      "# HELP cco_http_requests_total HTTP requests answered, by route, method and status.",
      "# TYPE cco_http_requests_total counter",
    );
    for (const [key, n] of [...this.#requests].sort()) {
      const [route, method, status] = JSON.parse(key);
      out.push(
        `cco_http_requests_total${
          labels([["route", route], ["method", method], ["status", status]])
        } ${n}`,
      );
    }
    out.push(
      "# HELP cco_http_request_duration_seconds Time to answer an HTTP request, by route.",
      "# TYPE cco_http_request_duration_seconds histogram",
    );
    for (const [route, h] of [...this.#latency].sort()) {
      h.render("cco_http_request_duration_seconds", [["route", route]], out);
    }
    out.push(
      "# HELP cco_http_requests_in_flight HTTP requests being answered.",
      "# TYPE cco_http_requests_in_flight gauge",
      `cco_http_requests_in_flight ${this.#inFlight}`,
      "# HELP cco_backend_requests_total Calls to the recommender backend, by outcome (ok or the error class).",
      "# TYPE cco_backend_requests_total counter",
    );
    for (const [key, n] of [...this.#backendCalls].sort()) {
      const [backend, outcome] = JSON.parse(key);
      out.push(
        `cco_backend_requests_total${
          labels([["backend", backend], ["outcome", outcome]])
        } ${n}`,
      );
    }
    out.push(
      "# HELP cco_backend_duration_seconds Time the recommender backend took, by backend.",
      "# TYPE cco_backend_duration_seconds histogram",
    );
    for (const [backend, h] of [...this.#backendLatency].sort()) {
      h.render("cco_backend_duration_seconds", [["backend", backend]], out);
    }
    return out.join("\n") + "\n";
  }
}
