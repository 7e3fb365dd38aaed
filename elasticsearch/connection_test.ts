import assert from "node:assert/strict";
import { ConfigError, UnavailableError } from "../errors/mod.ts";
import { connect, redactUrl, resolveConnection } from "./connection.ts";

const VARS = [
  "ES_URL",
  "ES_API_KEY",
  "ES_USERNAME",
  "ES_PASSWORD",
  "ES_CA_CERT",
  "ES_CA_FINGERPRINT",
  "ES_TIMEOUT_MS",
  "CCO_ES_CONFIG",
];

function withEnv(vars: Record<string, string>, fn: () => void) {
  const saved = new Map(VARS.map((v) => [v, Deno.env.get(v)]));
  try {
    for (const v of VARS) Deno.env.delete(v);
    for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
    fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test("connection settings: options, then ES_* variables, then the config file", () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/es.json`;
  Deno.writeTextFileSync(
    file,
    JSON.stringify({
      url: "https://file:9200",
      username: "file-user",
      password: "file-pass",
      caFingerprint: "AA:BB",
      requestTimeoutMs: 1000,
    }),
  );
  try {
    withEnv({ ES_USERNAME: "env-user", ES_TIMEOUT_MS: "2500" }, () => {
      assert.deepEqual(resolveConnection({ url: "http://opt:9200" }, file), {
        url: "http://opt:9200",
        username: "env-user",
        password: "file-pass",
        caFingerprint: "AA:BB",
        requestTimeoutMs: 2500,
      });
    });
    withEnv({ CCO_ES_CONFIG: file, ES_API_KEY: "a2V5" }, () => {
      assert.deepEqual(resolveConnection(), {
        url: "https://file:9200",
        apiKey: "a2V5",
        username: "file-user",
        password: "file-pass",
        caFingerprint: "AA:BB",
        requestTimeoutMs: 1000,
      });
    });
    withEnv({}, () => {
      assert.deepEqual(resolveConnection(), {});
      Deno.writeTextFileSync(file, '{"url":"x","pasword":"typo"}');
      assert.throws(() => resolveConnection({}, file), {
        name: "ConfigError",
        message: new RegExp(
          `^${file} has unknown keys pasword \\(expected url, apiKey, `,
        ),
      });
      Deno.writeTextFileSync(file, "{not json");
      assert.throws(() => resolveConnection({}, file), (e) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.path, file);
        assert.match(e.message, /cannot be read as Elasticsearch settings: /);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
      assert.throws(() => resolveConnection({}, `${dir}/missing.json`), {
        name: "ConfigError",
        message: /^.*missing\.json cannot be read as Elasticsearch settings: /,
      });
    });
    withEnv({ ES_TIMEOUT_MS: "soon" }, () => {
      assert.throws(() => resolveConnection(), {
        name: "ConfigError",
        message:
          "requestTimeoutMs must be a positive number of milliseconds, got NaN",
      });
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("redactUrl never shows credentials", () => {
  assert.equal(
    redactUrl("https://elastic:s3cret@host:9200/"),
    "https://***@host:9200/",
  );
  assert.equal(redactUrl("http://127.0.0.1:9200"), "http://127.0.0.1:9200/");
  assert.equal(redactUrl("not a url"), "not a url");
  // a node list: each URL masked
  assert.equal(
    redactUrl("https://u:p@a:9200, https://u:p@b:9200"),
    "https://***@a:9200/,https://***@b:9200/",
  );
});

Deno.test("connect: no URL is a settings error, an unreachable cluster an outage", async () => {
  const saved = new Map(VARS.map((v) => [v, Deno.env.get(v)]));
  try {
    for (const v of VARS) Deno.env.delete(v);
    await assert.rejects(() => connect(), (e) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        "no Elasticsearch URL: set ES_URL or pass --es-url",
      );
      return true;
    });
    // nothing listens on port 9 of this machine
    await assert.rejects(
      () => connect({ url: "http://127.0.0.1:9", requestTimeoutMs: 2000 }),
      (e) => {
        assert.ok(e instanceof UnavailableError, String(e));
        assert.equal(e.status, 503);
        assert.match(
          e.message,
          /^Elasticsearch at http:\/\/127\.0\.0\.1:9\/ is unreachable: /,
        );
        assert.doesNotMatch(e.message, /\n/);
        return true;
      },
    );
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
});

Deno.test("URLs with unusual characters: a one-line cause, never the secret", async () => {
  const cases: [string, RegExp][] = [
    // a password with / or # is no URL; the client's own message echoed it
    [
      "http://elastic:pa/s3cret@127.0.0.1:9",
      /^Elasticsearch URL http:\/\/\*\*\*@127\.0\.0\.1:9 is not a valid URL: percent-encode/,
    ],
    [
      "http://elastic:pa#s3cret@127.0.0.1:9",
      /^Elasticsearch URL http:\/\/\*\*\*@127\.0\.0\.1:9 is not a valid URL: percent-encode/,
    ],
    // no scheme: was printed whole, password included
    [
      "elastic:s3cret@127.0.0.1:9",
      /^Elasticsearch URL \*\*\*@127\.0\.0\.1:9 must start with http:\/\/ or https:\/\//,
    ],
    ["127.0.0.1:9", /^Elasticsearch URL 127\.0\.0\.1:9 must start with http/],
    [
      "ftp://elastic:s3cret@127.0.0.1:9",
      /^Elasticsearch URL ftp:\/\/\*\*\*@127\.0\.0\.1:9 must start with http/,
    ],
    // "URI malformed" named nothing
    [
      "http://elastic:s3cret%zz@127.0.0.1:9",
      /has a malformed %-escape in its user or password/,
    ],
    // a query string was printed as it was
    [
      "http://127.0.0.1:9/?api_key=s3cret",
      /^Elasticsearch at http:\/\/127\.0\.0\.1:9\/\?\*\*\* is unreachable/,
    ],
    ["http://127.0.0.1:99999", /is not a valid URL \(host or port\?\)/],
    [
      "http://elastic:s3cret@",
      /^Elasticsearch URL http:\/\/\*\*\*@ has no host$/,
    ],
    [
      "http://elastic:pa ss%20s3cret@127.0.0.1:9",
      /^Elasticsearch at http:\/\/\*\*\*@127\.0\.0\.1:9\/ is unreachable/,
    ],
  ];
  for (const [url, want] of cases) {
    const error = await connect({ url, requestTimeoutMs: 2000 }).then(
      () => undefined,
      (e) => e as Error,
    );
    assert.ok(error, url);
    assert.match(error.message, want, url);
    assert.ok(!error.message.includes("s3cret"), error.message);
    assert.ok(!error.message.includes("\n"), error.message);
    assert.ok(!redactUrl(url).includes("s3cret"), redactUrl(url));
  }
});
