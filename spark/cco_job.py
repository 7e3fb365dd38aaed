"""cco-es indicators on Apache Spark: the same documents as the Deno build.

Computes exactly what `buildIndicators` (indicators/build.ts) computes, with
the Spark DataFrame/SQL API only (no Python UDF: everything runs in the JVM):

- events read from CSV/text or Parquet files or directories (partitioned
  ones too), in the project's event formats (presets retailrocket, taobao,
  tianchi, movielens, or a custom layout);
- interactions binarized per (user, item, event type), each user's most
  recent `maxHistoryPerUser` distinct items per type kept (latest timestamp
  per item, ties by item id);
- N = every user with any event; signed root LLR with Mahout's entropy
  formula in the same float64 arithmetic as indicators/llr.ts (LlrTable);
- threshold (a significance level, default 0.01, or a signed root LLR),
  top-k per item (score descending, then item id in UTF-16 code-unit
  order), per-field overrides; weights root LLR × idf or root LLR (idf over
  the items having the field; weighted builds drop root LLR <= 1e-9), or
  none. The library's default weighting, learned (a ridge regression per
  item), is not implemented: a build names its weighting;
- fields `indicators` (P'P), `indicators_<S>` (P'S), `similar_<S>` (S×S);
  `metadata.popularity` = distinct users with the primary event (capped).

Writes `part-NNNNN.ndjson` files (documents ordered by item id across the
parts, keys in the Deno export's order) and `manifest.json` (the model
manifest, model/manifest.ts, engine "spark") into the output directory.

CSV/text is read by the Deno reader's rules (events/read.ts: gzip by
content, UTF-8 checked, lines split at \n or \r\n only, no quotes in the key
fields, plain decimal timestamps, ...). Malformed input follows its policy:
fail on the first bad line (`file:line: cause`, the same message), or with
`onError: "skip"` count and leave such lines out. CSV line numbers are exact:
the job numbers lines by file split and position (see `_numbered_lines`).
Parquet has no lines: errors name the file and the row's 1-based index in it.
(One exception to "no Python": a file whose name says another thing than its
content, such as gzip named .csv, is read by a Python task, `_odd_lines`.)

Usage (spark-submit; see `--help`):

    spark-submit cco_job.py --events events.csv --out model/ \
        --weights llr-idf [flags]
    spark-submit cco_job.py --config builds.json

`--config` takes `{"builds": [{...}, ...]}` with the options of
`runSparkBuild` (spark/runner.ts), several builds in one Spark session.
"""

import argparse
import json
import math
import os
import re
import sys
import time
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

# Facts shared with the TypeScript library; tests/spark_test.ts checks that
# they equal events/read.ts PRESETS and model/manifest.ts (`--describe`).
TOOL_VERSION = "0.2.0"
MANIFEST_FORMAT = "cco-es/model"
MANIFEST_VERSION = 1
DEFAULT_MAX_INDICATORS_PER_ITEM = 100
# The default threshold is a significance level (indicators/build.ts
# DEFAULT_SIGNIFICANCE), recorded in the manifest as the Deno build does.
DEFAULT_SIGNIFICANCE = 0.01
# rootLlrThreshold(0.01) of indicators/significance.ts, the very double the
# Deno build uses. Hard-coded, not recomputed: the bisection calls exp(),
# and Python's (the C library's) may differ from V8's in the last ulp.
DEFAULT_MIN_ROOT_LLR = 2.575829288381044
DEFAULT_MAX_HISTORY_PER_USER = 500
MIN_WEIGHTED_ROOT_LLR = 1e-9
# The weightings counted from root LLR (indicators/weights.ts
# COUNTED_WEIGHTINGS). The library's default, "learned" (a ridge regression
# per item), is not implemented here, so a build must name its weighting:
# a default would build another model than the Deno build with the same
# options.
WEIGHTINGS = ["llr-idf", "llr", "none"]
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

PRESETS = {
    "retailrocket": {
        "delimiter": ",",
        "header": True,
        "user": "visitorid",
        "item": "itemid",
        "event": "event",
        "timestamp": "timestamp",
        "timestampUnit": "ms",
        "events": ["view", "addtocart", "transaction"],
        "primaryEvent": "transaction",
    },
    "taobao": {
        "delimiter": ",",
        "header": False,
        "columns": 5,
        "user": 0,
        "item": 1,
        "event": 3,
        "timestamp": 4,
        "timestampUnit": "s",
        "eventAliases": {
            "pv": "view",
            "cart": "addtocart",
            "fav": "fav",
            "buy": "transaction",
        },
        "events": ["view", "addtocart", "fav", "transaction"],
        "primaryEvent": "transaction",
    },
    "tianchi": {
        "delimiter": ",",
        "header": True,
        "user": "user_id",
        "item": "item_id",
        "event": "behavior_type",
        "timestamp": "time",
        "timestampUnit": "datetime",
        "eventAliases": {
            "1": "view",
            "2": "fav",
            "3": "addtocart",
            "4": "transaction",
        },
        "events": ["view", "fav", "addtocart", "transaction"],
        "primaryEvent": "transaction",
    },
    "movielens": {
        "delimiter": "\t",
        "header": False,
        "columns": 4,
        "user": 0,
        "item": 1,
        "event": 2,
        "timestamp": 3,
        "timestampUnit": "s",
        "eventAliases": {
            "1": "dislike",
            "2": "dislike",
            "3": "neutral",
            "4": "like",
            "5": "like",
        },
        "events": ["like", "neutral", "dislike"],
        "primaryEvent": "like",
    },
}

ERROR_MARK = "cco-spark: error: "
RESULT_MARK = "cco-spark-result: "


class JobError(Exception):
    """A one-line failure for the user (bad input or options)."""


def _log(message):
    print(f"cco-spark: {message}", file=sys.stderr, flush=True)


log = _log


# ---------------------------------------------------------------- options


def resolve_format(fmt):
    """A preset name, an EventFormat dict, or None (RetailRocket)."""
    if fmt is None:
        return dict(PRESETS["retailrocket"]), "retailrocket"
    if isinstance(fmt, str):
        if fmt not in PRESETS:
            raise JobError(
                f'unknown format "{fmt}"; presets: {", ".join(PRESETS)}')
        return dict(PRESETS[fmt]), fmt
    if not isinstance(fmt, dict):
        raise JobError("format must be a preset name or an object")
    problems = []
    for key in ("user", "item"):
        if fmt.get(key) is None:
            problems.append(f'"{key}" column is required')
    if fmt.get("event") is None and not fmt.get("fixedEvent"):
        problems.append('give an "event" column or a "fixedEvent" name')
    if fmt.get("delimiter") is not None and len(fmt["delimiter"]) == 0:
        problems.append("delimiter must not be empty")
    unit = fmt.get("timestampUnit") or "ms"
    if unit not in ("ms", "s", "datetime"):
        problems.append(
            f'timestampUnit must be ms, s or datetime, got "{unit}"')
    for key in ("user", "item", "event", "timestamp"):
        col = fmt.get(key)
        if isinstance(col, bool) or (isinstance(col, (int, float))
                                     and not (float(col).is_integer()
                                              and col >= 0)):
            problems.append(f'"{key}" column index must be an integer >= 0')
        if isinstance(col, str) and fmt.get("header") is False:
            problems.append(
                f'"{key}" column "{col}" is a name but there is no header')
    if problems:
        raise JobError(f"invalid event format: {'; '.join(problems)}")
    return dict(fmt), "custom"


def _number(value, what, integer=False, minimum=None):
    if isinstance(value, str):
        text = value.strip()
        if text in ("-Infinity", "-inf"):
            value = -math.inf
        else:
            try:
                value = float(text)
            except ValueError:
                raise JobError(f"{what} must be a number, got \"{text}\"")
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or math.isnan(value):
        raise JobError(f"{what} must be a number, got {json.dumps(value)}")
    if integer and not (math.isfinite(value) and float(value).is_integer()):
        raise JobError(f"{what} must be an integer, got {value}")
    if minimum is not None and value < minimum:
        raise JobError(f"{what} must be >= {minimum}, got {value}")
    return int(value) if integer else float(value)


def _erfc(x):
    # indicators/significance.ts erfc: the same operations in the same order
    t = 1 / (1 + 0.5 * x)
    return t * math.exp(
        -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
            0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (
                -1.13520398 + t * (1.48851587 + t * (
                    -0.82215223 + t * 0.17087277)))))))))


def root_llr_threshold(alpha):
    """rootLlrThreshold() of indicators/significance.ts: the signed-root LLR
    cutoff of a significance level. The default level gives the library's
    hard-coded double; another level is computed by the same bisection,
    which equals the library's unless Python's exp() and V8's differ in the
    last ulp where it matters (cco build-index passes the library's value
    beside the level, so it never relies on this)."""
    if alpha == DEFAULT_SIGNIFICANCE:
        return DEFAULT_MIN_ROOT_LLR
    if alpha == 1:
        return 0.0
    lo, hi = 0.0, 40.0
    i = 0
    while i < 200 and hi - lo > 1e-12:
        mid = (lo + hi) / 2
        if _erfc(abs(mid) / math.sqrt(2)) > alpha:
            lo = mid
        else:
            hi = mid
        i += 1
    return (lo + hi) / 2


def _threshold(opts, prefix):
    """A level's threshold options as indicators/build.ts resolves them:
    (minRootLlr, significance or None), or None when the level sets none.
    `minRootLlr` beside `significance` is that level's threshold (cco
    build-index passes the library's exact value with the level); it must
    agree with the level."""
    min_llr, alpha = opts.get("minRootLlr"), opts.get("significance")
    if min_llr is not None:
        min_llr = _number(min_llr, f"{prefix}minRootLlr")
    if alpha is None:
        return None if min_llr is None else (min_llr, None)
    if isinstance(alpha, str):
        alpha = _number(alpha, f"{prefix}significance")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
            or not 0 < alpha <= 1:
        shown = alpha if isinstance(alpha, bool) or not isinstance(
            alpha, (int, float)) else _plain(alpha)
        raise JobError(f"{prefix}significance must be a number in (0, 1], "
                       f"got {json.dumps(shown)}")
    alpha = float(alpha)
    own = root_llr_threshold(alpha)
    if min_llr is None:
        return own, alpha
    if not abs(min_llr - own) <= 1e-9:
        raise JobError(f"{prefix}minRootLlr {_plain(min_llr)} is not the "
                       f"threshold of {prefix}significance {_plain(alpha)} "
                       f"({own}): give one of them")
    return min_llr, alpha


# The options of one build (SparkBuildOptions in spark/runner.ts, plus the
# runner's toolVersion); any other key is refused, so that an option of the
# Deno build the job does not implement (minEventsPerUser, rankings, ridge)
# is never silently ignored.
BUILD_KEYS = (
    "events", "out", "input", "format", "primaryEvent", "secondaryEvents",
    "similarEvent", "minRootLlr", "significance", "maxIndicatorsPerItem",
    "maxHistoryPerUser", "fields", "weights", "onError", "partitions",
    "saveEvents", "sqlConf", "source", "toolVersion")
# The per-field options (IndicatorOptions in indicators/build.ts).
FIELD_KEYS = ("minRootLlr", "significance", "maxIndicatorsPerItem")


def resolve_build(raw):
    """Checks one build's options (the keys of SparkBuildOptions)."""
    if not isinstance(raw, dict):
        raise JobError("a build's options must be an object")
    unknown = [k for k in raw if k not in BUILD_KEYS]
    if unknown:
        raise JobError(f'{unknown[0]} is not an option of the Spark build '
                       f'(options: {", ".join(BUILD_KEYS[:-1])})')
    b = dict(raw)
    for key in ("events", "out"):
        if not isinstance(b.get(key), str) or not b[key]:
            raise JobError(f'"{key}" is required')
    fmt, format_name = resolve_format(b.get("format"))
    b["format"], b["formatName"] = fmt, format_name
    if b.get("primaryEvent") is None:
        # as build-index decides it: the preset's, or the fixed event
        b["primaryEvent"] = fmt.get("primaryEvent") \
            if format_name != "custom" else fmt.get("fixedEvent")
    primary = b["primaryEvent"]
    if not isinstance(primary, str) or not SAFE_NAME.match(primary):
        if primary is None:
            raise JobError("primaryEvent is required: the format names no "
                           "primary event (--primary)")
        raise JobError("primaryEvent must be an event type name (letters, "
                       f"digits, _ or -), got {json.dumps(primary)}")
    source = b.get("source")
    if source is not None and not isinstance(source, dict):
        raise JobError('"source" must be an object')
    # the threshold: minRootLlr, or a significance level (default 0.01)
    b["minRootLlr"], b["significance"] = _threshold(b, "") or (
        DEFAULT_MIN_ROOT_LLR, DEFAULT_SIGNIFICANCE)
    b["maxIndicatorsPerItem"] = _number(
        b.get("maxIndicatorsPerItem", DEFAULT_MAX_INDICATORS_PER_ITEM),
        "maxIndicatorsPerItem", integer=True, minimum=0)
    b["maxHistoryPerUser"] = _number(
        b.get("maxHistoryPerUser", DEFAULT_MAX_HISTORY_PER_USER),
        "maxHistoryPerUser", integer=True, minimum=1)
    fields = b.get("fields") or {}
    if not isinstance(fields, dict):
        raise JobError('"fields" must map field names to options')
    resolved = {}
    for name, opts in fields.items():
        if not isinstance(opts, dict):
            raise JobError(f'fields.{name} must be an object')
        unknown = [k for k in opts if k not in FIELD_KEYS]
        if unknown:
            raise JobError(f"fields.{name}.{unknown[0]} is not an option "
                           "of the Spark build (options: "
                           f'{", ".join(FIELD_KEYS)})')
        o = {}
        # a field's threshold (either form) replaces the build's
        threshold = _threshold(opts, f"fields.{name}.")
        if threshold is not None:
            o["minRootLlr"], o["significance"] = threshold
        if opts.get("maxIndicatorsPerItem") is not None:
            o["maxIndicatorsPerItem"] = _number(
                opts["maxIndicatorsPerItem"],
                f"fields.{name}.maxIndicatorsPerItem", integer=True,
                minimum=0)
        resolved[name] = o
    b["fields"] = resolved
    weights = b.get("weights")
    if weights is None:
        raise JobError("weights is required: the Deno build's default, "
                       "learned, is not implemented by the Spark build; give "
                       f'{", ".join(WEIGHTINGS[:-1])} or {WEIGHTINGS[-1]}')
    if weights == "learned":
        raise JobError('weights "learned" is not implemented by the Spark '
                       f'build: give {", ".join(WEIGHTINGS[:-1])} or '
                       f"{WEIGHTINGS[-1]}, or build with cco build-index "
                       "--engine deno")
    if weights not in WEIGHTINGS:
        raise JobError(
            f'weights must be one of {", ".join(WEIGHTINGS)}, got "{weights}"')
    on_error = b.get("onError") or "fail"
    if on_error not in ("fail", "skip"):
        raise JobError(f'onError must be "fail" or "skip", got "{on_error}"')
    b["onError"] = on_error
    kind = b.get("input") or "auto"
    if kind not in ("auto", "csv", "parquet"):
        raise JobError(f'input must be csv, parquet or auto, got "{kind}"')
    b["input"] = kind
    if b.get("partitions") is not None:
        b["partitions"] = _number(b["partitions"], "partitions",
                                  integer=True, minimum=1)
    if "similarEvent" not in b:
        b["similarEvent"] = "default"
    return b


def indicator_fields(events_read, b):
    """indicatorFields() of indicators/build.ts: the same choices, messages."""
    seen = list(events_read)
    if not seen:
        raise JobError("no events in the input")
    primary = b["primaryEvent"]

    def missing(t, role):
        return JobError(
            f'no "{t}" events in the input (event types seen: '
            f'{", ".join(seen)}); set the {role} event type')

    if not events_read.get(primary):
        raise missing(primary, "primary")
    secondaries = b.get("secondaryEvents")
    if secondaries is None:
        secondaries = sorted((t for t in seen if t != primary),
                             key=_code_units)
    for s in secondaries:
        if not events_read.get(s):
            raise missing(s, "secondary")
        if s == primary:
            raise JobError(
                f'"{s}" is the primary event; it cannot be secondary too')
    for t in [primary, *secondaries]:
        if not SAFE_NAME.match(t):
            raise JobError(f'event type "{t}" cannot name an index field '
                           '(use letters, digits, _ or -)')
    similar = b.get("similarEvent")
    if similar == "default":
        ranked = sorted(secondaries,
                        key=lambda s: (-events_read[s], _code_units(s)))
        similar = ranked[0] if ranked else None
    elif similar is not None and not events_read.get(similar):
        raise missing(similar, "similar-items")
    specs = [("indicators", primary, primary)]
    specs += [(f"indicators_{s}", primary, s) for s in secondaries]
    if similar is not None:
        specs.append((f"similar_{similar}", similar, similar))
    return specs


def _code_units(s):
    """Sort key: JavaScript's string order (UTF-16 code units)."""
    return s.encode("utf-16-be", "surrogatepass")


# ------------------------------------------------------------- file system


class Fs:
    """Hadoop FileSystem access through the JVM (local, HDFS, S3, ...)."""

    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def path(self, p):
        return self.jvm.org.apache.hadoop.fs.Path(p)

    def fs(self, p):
        return self.path(p).getFileSystem(self.conf)

    def exists(self, p):
        return self.fs(p).exists(self.path(p))

    def is_dir(self, p):
        return self.fs(p).getFileStatus(self.path(p)).isDirectory()

    def list_files(self, p):
        """Data files under p (recursively), skipping hidden ones (a name
        or folder starting with `_` or `.`, as Spark does)."""
        fs = self.fs(p)
        root = fs.makeQualified(self.path(p)).toUri().getPath().rstrip("/")
        it = fs.listFiles(self.path(p), True)
        out = []
        while it.hasNext():
            path = it.next().getPath()
            rel = str(path.toUri().getPath())[len(root):]
            if "/_" in rel or "/." in rel:
                continue
            out.append(str(path))
        return out

    def children(self, p):
        return [str(s.getPath()) for s in self.fs(p).listStatus(self.path(p))]

    def delete(self, p):
        self.fs(p).delete(self.path(p), True)

    def rename(self, src, dst):
        if not self.fs(src).rename(self.path(src), self.path(dst)):
            raise JobError(f"cannot rename {src} to {dst}")

    def drop_checksums(self, p):
        """Deletes the `.NAME.crc` files a checksummed file system (the
        local one) writes beside each file in p: listStatus hides them,
        and a rename moves them along, so they are removed through the raw
        file system."""
        fs = self.fs(p)
        cls = fs.getClass()
        while cls is not None and \
                cls.getName() != "org.apache.hadoop.fs.ChecksumFileSystem":
            cls = cls.getSuperclass()
        if cls is None:
            return
        raw = fs.getRawFileSystem()
        for status in raw.listStatus(self.path(p)):
            if re.match(r"^\..*\.crc$", status.getPath().getName()):
                raw.delete(status.getPath(), False)

    def write_text(self, p, text):
        out = self.fs(p).create(self.path(p), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()


def _local_path(uri):
    u = urlparse(uri)
    if u.scheme in ("", "file"):
        return unquote(u.path)
    return None


class Display:
    """Names files in messages as the user gave the input path."""

    def __init__(self, given):
        self.given = given
        local = _local_path(given)
        self.root = os.path.abspath(local) if local is not None else None

    def __call__(self, uri):
        local = _local_path(uri)
        if local is None or self.root is None:
            return uri
        if local == self.root:
            return self.given
        if local.startswith(self.root + "/"):
            return self.given.rstrip("/") + local[len(self.root):]
        return local


# ------------------------------------------------------------------ input
#
# CSV/text is read as the Deno reader reads it (events/read.ts documents
# the rules; events/_parser.ts is the reference): gzip known by its first
# bytes whatever the name, other compressions and UTF-16 refused, lines
# split at \n only (a \r before it dropped, any other \r an error), UTF-8
# checked on every line, RFC 4180 quotes within a line but none in the
# user, item, event and timestamp fields, plain decimal timestamps, lines
# over MAX_LINE_BYTES refused, each blank line of a run in the middle
# counted, input shown in messages escaped and cut (`_shown`).

# The Deno reader's default longest line (DEFAULT_MAX_LINE_BYTES, 1 MiB).
MAX_LINE_BYTES = 1 << 20
_CR_INSIDE = ("carriage return inside a line (a file with old Mac line "
              "endings?)")
_NOT_UTF8 = "is not UTF-8 text (an invalid byte on this line)"
_BLANK = "blank line in the middle of the file"
_UNTERMINATED = ("unterminated quoted field (quoted line breaks are not "
                 "supported)")
_AFTER_QUOTE = ("a quoted field must be followed by the delimiter or the "
                "line end")
_QUOTED_KEY = ("quoted field \x00: quotes are not supported in the user, "
               "item, event and timestamp columns")
# where a message shows input: `_shown` of the row's `_errval` goes there
_SHOWN = "\x00"

# JavaScript's String.prototype.trim() set (WhiteSpace and LineTerminator)
_JS_SPACE = ("\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004"
             "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f"
             "\u3000\ufeff")
_WS = ("[\\t\\n\\x0B\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029"
       "\\u202f\\u205f\\u3000\\ufeff]")


def _trimmed(col):
    """String.prototype.trim() of a string column."""
    from pyspark.sql import functions as F
    return F.regexp_replace(col, f"^{_WS}+|{_WS}+\\z", "")


def _shown(text):
    """Input quoted for a message as the Deno reader quotes it (shown() of
    events/_parser.ts): one line, `"` and `\\` escaped, control and
    unprintable characters as \\uXXXX, cut to about 100 UTF-16 units."""
    out, width = [], 0
    for c in text or "":
        code = ord(c)
        if c in '"\\':
            e = "\\" + c
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in (
                0x2028, 0x2029, 0xFFFD) or 0xD800 <= code <= 0xDFFF:
            e = f"\\u{code:04x}"
        else:
            e = c
        w = 2 if code > 0xFFFF else len(e)
        if width + w > 100:
            return '"' + "".join(out) + '..."'
        out.append(e)
        width += w
    return '"' + "".join(out) + '"'


def _split_line(text, delimiter):
    """splitLine() of events/_parser.ts: fields at `delimiter`, RFC 4180
    quotes within the line; ValueError(reason) when malformed."""
    if '"' not in text:
        return text.split(delimiter)
    out, i, n = [], 0, len(text)
    while True:
        if i < n and text[i] == '"':
            value, j = "", i + 1
            while True:
                q = text.find('"', j)
                if q < 0:
                    raise ValueError(_UNTERMINATED)
                value += text[j:q]
                if text[q + 1:q + 2] == '"':
                    value += '"'
                    j = q + 2
                    continue
                j = q + 1
                break
            out.append(value)
            if j == n:
                return out
            if not text.startswith(delimiter, j):
                raise ValueError(_AFTER_QUOTE)
            i = j + len(delimiter)
        else:
            d = text.find(delimiter, i)
            out.append(text[i:n if d < 0 else d])
            if d < 0:
                return out
            i = d + len(delimiter)


def _not_text(head):
    """The Deno reader's refusal of an input by its first (decompressed)
    bytes: UTF-16 or another compression than gzip; None for text."""
    if head[:3] == b"\xef\xbb\xbf":
        return None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16 text is not supported: convert the file to UTF-8"
    kind = None
    if head[:3] == b"BZh" and len(head) > 3 and 0x31 <= head[3] <= 0x39:
        kind = "bzip2"
    for magic, name in ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
                        (b"PK\x03\x04", "zip"),
                        (b"7z\xbc\xaf\x27\x1c", "7z")):
        if head.startswith(magic):
            kind = name
    if kind:
        return f"is {kind}-compressed: decompress it first (gzip is read as " \
            "it is)"
    return None


def _file_key(uri):
    """One spelling of a file's URI (file:/x, file:///x and %-escapes)."""
    u = urlparse(uri)
    return (u.scheme or "file", u.netloc, unquote(u.path))


def _inspect(fs, files, display):
    """Reads the first bytes of every file (on the driver, a few at a time):
    refuses what the Deno reader refuses by content, and tells for each file
    whether Hadoop's reader, which decompresses by the file's name, reads it
    as what it is ({key: True}); gzip named otherwise than `.gz`, or text
    named `.gz` (or .bz2, ...), is read by `_odd_lines` instead."""
    jvm = fs.jvm
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
        fs.conf)

    def head(uri):
        from py4j.protocol import Py4JJavaError
        path = fs.path(uri)
        system = path.getFileSystem(fs.conf)
        stream = system.open(path)
        try:
            raw = bytes(stream.readNBytes(6))
        finally:
            stream.close()
        gzip = raw[:2] == b"\x1f\x8b"
        content = raw
        if gzip:
            stream = system.open(path)
            try:
                content = bytes(jvm.java.util.zip.GZIPInputStream(stream)
                                .readNBytes(6))
            except Py4JJavaError as e:
                error = e.java_exception
                reason = "truncated gzip data (unexpected end of file)" \
                    if "EOF" in error.getClass().getSimpleName() else \
                    f"corrupt gzip data ({error.getMessage()})"
                raise JobError(f"{display(uri)}:1: {reason}")
            finally:
                stream.close()
        refused = _not_text(content)
        if refused:
            raise JobError(f"{display(uri)}:1: {refused}")
        codec = codecs.getCodec(path)
        ext = codec.getDefaultExtension() if codec is not None else None
        return (ext == ".gz") if gzip else ext is None

    if len(files) <= 1:
        return {_file_key(f): head(f) for f in files}
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=min(16, len(files))) as pool:
        return {_file_key(f): ok for f, ok in zip(files, pool.map(head,
                                                                  files))}


def _odd_lines(partitions):
    """A function from (path, bytes) of a file Hadoop would misread to its
    lines as Hadoop reads the others: (path, line number, bytes without the
    \\n, partition values...); gzip (all members) by content, the UTF-8 BOM
    dropped from the first line. Runs in Python workers: only such files
    (rare; rename them to read them in the JVM) take this path."""

    def lines(item):
        import gzip
        import io
        path, data = item
        stream = gzip.GzipFile(fileobj=io.BytesIO(data)) \
            if data[:2] == b"\x1f\x8b" else io.BytesIO(data)
        values = partitions.get(_file_key(path), [])
        n = 0
        for raw in stream:
            n += 1
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield (path, n, bytes(raw), *values)

    return lines


def _partition_values(root, uri):
    """{key: value} of the `key=value` directories between root and uri."""
    rel = _file_key(uri)[2][len(root):].strip("/").split("/")[:-1]
    out = {}
    for part in rel:
        key, eq, value = part.partition("=")
        if eq and key:
            out[key] = None if value == "__HIVE_DEFAULT_PARTITION__" \
                else value
    return out


_DATETIME = (r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2})(?::(\d{2})"
             r"(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _with_datetime(df, raw, out):
    """Date.parse() of the Deno reader's date-times, as unix ms in `out`
    (NULL when not one): `YYYY-MM-DD HH[:MM[:SS[.fff]]][Z|±HH[:]MM]` (space
    or T) or `YYYY-MM-DD`, UTC unless an offset is given; as V8, day 1-31 in
    any month (Feb 30 is Mar 2), hour 24 only as 24:00:00, fractions
    truncated to milliseconds."""
    from pyspark.sql import functions as F
    df = df.withColumn("_t", _trimmed(F.col(raw)))
    t = F.col("_t")
    groups = [F.regexp_extract(t, _DATETIME, i).alias(f"_g{i}")
              for i in range(1, 9)]
    df = df.select("*", t.rlike(_DATETIME).alias("_ok"),
                   t.rlike(r"^\d{4}-\d{2}-\d{2}$").alias("_dateonly"),
                   *groups)

    def num(i):
        g = F.col(f"_g{i}")
        return F.when(g == "", F.lit(0)).otherwise(g.cast("long")) \
            .alias(f"_n{i}")

    zone = F.regexp_replace(F.col("_g8"), ":", "")
    df = df.select(
        "*", *[num(i) for i in range(1, 7)],
        F.when(F.col("_g7") == "", F.lit(0)).otherwise(
            F.rpad(F.substring("_g7", 1, 3), 3, "0").cast("long"))
        .alias("_ms"),
        F.when(F.substring("_g8", 1, 1) == "-", F.lit(-1)).otherwise(
            F.lit(1)).alias("_zs"),
        F.coalesce(F.substring(zone, 2, 2).cast("long"), F.lit(0))
        .alias("_zh"),
        F.coalesce(F.substring(zone, 4, 2).cast("long"), F.lit(0))
        .alias("_zm"))
    y, mo, d = F.col("_n1"), F.col("_n2"), F.col("_n3")
    h, mi, sec, ms = F.col("_n4"), F.col("_n5"), F.col("_n6"), F.col("_ms")
    # days from the civil date (Howard Hinnant's algorithm), integers only
    yy = y - F.when(mo <= 2, 1).otherwise(0)
    era = F.floor(yy / F.lit(400))
    yoe = yy - era * 400
    mp = F.when(mo > 2, mo - 3).otherwise(mo + 9)
    doy = F.floor((mp * 153 + 2) / 5) + d - 1
    doe = yoe * 365 + F.floor(yoe / 4) - F.floor(yoe / 100) + doy
    days = era * 146097 + doe - 719468
    offset = F.col("_zs") * (F.col("_zh") * 60 + F.col("_zm"))
    millis = (days * 86400000 + h * 3600000 + mi * 60000 + sec * 1000 + ms
              - offset * 60000)
    valid = (F.col("_ok") & ((F.col("_g4") != "") | F.col("_dateonly"))
             & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= 31)
             & (mi <= 59) & (sec <= 59)
             & ((h <= 23) | ((h == 24) & (mi == 0) & (sec == 0) & (ms == 0)))
             & (F.col("_zh") <= 23) & (F.col("_zm") <= 59))
    temp = ["_t", "_ok", "_dateonly", "_ms", "_zs", "_zh", "_zm"]
    temp += [f"_g{i}" for i in range(1, 9)] + [f"_n{i}" for i in range(1, 7)]
    return df.withColumn(out, F.when(valid, millis.cast("double")).otherwise(
        F.lit(None).cast("double"))).drop(*temp)


def _validated(df, fmt, typed_ts=False):
    """Applies the Deno reader's checks, in its order, to a frame with
    `_pre_error` and `_pre_val` (a failed check of the line before its
    fields: NULL when none), `_user`, `_item`, `_rawev`, `_tsraw` (and
    `_tsval` when the timestamp column is typed): adds `event`, `ts`,
    `_error` (the first failing check's message, NULL when valid; `_SHOWN`
    marks where `_errval`, shown, goes)."""
    from pyspark.sql import functions as F
    aliases = fmt.get("eventAliases") or {}
    raw_event = F.col("_rawev")
    if fmt.get("event") is None:
        event = F.lit(fmt["fixedEvent"])
    elif aliases:
        pairs = [F.lit(x) for kv in aliases.items() for x in kv]
        event = F.coalesce(F.element_at(F.create_map(*pairs), raw_event),
                           raw_event)
    else:
        event = raw_event
    df = df.withColumn("event", F.coalesce(event, F.lit("")))
    unit = fmt.get("timestampUnit") or "ms"
    plain = None
    if typed_ts:
        df = df.withColumn("ts", F.col("_tsval"))
    elif unit == "datetime":
        df = _with_datetime(df, "_tsraw", "ts")
    else:
        # -?[0-9]+(.[0-9]+)?: parsed as JavaScript's Number() parses it
        # (correctly rounded), -0 as 0
        plain = F.coalesce(F.col("_tsraw").rlike(r"^-?[0-9]+(\.[0-9]+)?\z"),
                           F.lit(False))
        value = F.col("_tsraw").cast("double") * (1000.0 if unit == "s"
                                                  else 1.0)
        df = df.withColumn("ts", F.when(plain, F.when(value == 0.0, 0.0)
                                        .otherwise(value)))
    ts = F.col("ts")
    raw_ts = F.coalesce(F.col("_tsraw"), F.lit(""))
    checks = [(F.col("_pre_error").isNotNull(), F.col("_pre_error"),
               F.col("_pre_val")),
              (F.coalesce(F.col("_user"), F.lit("")) == "", "empty user id"),
              (F.coalesce(F.col("_item"), F.lit("")) == "", "empty item id")]
    accepted = fmt.get("events")
    if fmt.get("event") is not None:
        checks.append((F.coalesce(raw_event, F.lit("")) == "",
                       "empty event name"))
        checks.append((F.col("event") == "", "empty event name"))
        if accepted:
            names = list(dict.fromkeys([*accepted, *aliases.keys()]))
            checks.append((~F.col("event").isin(*accepted),
                           f"unknown event {_SHOWN}; accepted: "
                           f"{', '.join(names)}", F.col("event")))
    if plain is not None:
        checks.append((~plain, f"timestamp {_SHOWN} is not a plain decimal "
                       f"number (unix {unit})", raw_ts))
        checks.append((F.abs(ts) == float("inf"),
                       f"timestamp {_SHOWN} is out of range", raw_ts))
    else:
        what = "a date-time" if unit == "datetime" \
            else f"a plain decimal number (unix {unit})"
        checks.append((ts.isNull(), f"timestamp {_SHOWN} is not {what}",
                       raw_ts))
        checks.append((F.isnan(ts) | (F.abs(ts) == float("inf")),
                       f"timestamp {_SHOWN} is out of range", raw_ts))
    error = errval = None
    for check in checks:
        cond, msg = check[0], check[1]
        msg = F.lit(msg) if isinstance(msg, str) else msg
        val = check[2] if len(check) > 2 else F.lit(None).cast("string")
        error = F.when(cond, msg) if error is None else error.when(cond, msg)
        errval = F.when(cond, val) if errval is None \
            else errval.when(cond, val)
    return df.select(F.col("_user").alias("user"),
                     F.col("_item").alias("item"), "event", "ts",
                     error.alias("_error"), errval.alias("_errval"),
                     "_file", "_loc")


def _malformed(parsed, b, kind, display, errors, log):
    """The malformed lines of a parsed input (`errors` of them): fails on
    the first under onError "fail", or on the first line that is not UTF-8
    even under "skip" (the file is in another encoding, as the Deno reader
    decides); else the skip report {count, first five messages}."""
    from pyspark.sql import functions as F
    if not errors:
        return {"count": 0, "first": []}

    def describe(r):
        loc = r["_loc"]
        reason = r["_error"]
        if _SHOWN in reason:
            reason = reason.replace(_SHOWN, _shown(r["_errval"]))
        if kind == "parquet":
            at = f"{display(r['_file'])}" + (f" row {loc}" if loc else "")
            return f"{at}: {reason}"
        return f"{display(r['_file'])}:{loc}: {reason}"

    bad = parsed.filter(F.col("_error").isNotNull()).select(
        "_file", "_loc", "_error", "_errval")
    if b["onError"] != "fail":
        fatal = (bad.filter(F.col("_error") == _NOT_UTF8)
                 .orderBy("_file", "_loc").limit(1).collect())
        if fatal:
            raise JobError(describe(fatal[0]))
    first = bad.orderBy("_file", "_loc").limit(5).collect()
    if b["onError"] == "fail":
        raise JobError(describe(first[0]))
    skipped = {"count": errors, "first": [describe(r) for r in first]}
    log(f"skipped {errors} malformed lines, e.g. "
        + "; ".join(skipped["first"]))
    return skipped


def _local_table(spark, rows, schema):
    """A small DataFrame of driver-side rows, built in the JVM (no Python
    worker, unlike createDataFrame of a list). `schema`: [(name, type)]."""
    from pyspark.sql import functions as F
    if not rows:
        return spark.range(0).select(*[F.lit(None).cast(t).alias(n)
                                       for n, t in schema])
    structs = [F.struct(*[F.lit(v).cast(t).alias(n)
                          for v, (n, t) in zip(row, schema)]) for row in rows]
    return spark.range(1).select(F.inline(F.array(*structs)))


def _content_length(value):
    """A line's length in bytes without the \\r of a \\r\\n."""
    from pyspark.sql import functions as F
    return F.octet_length(value) - F.when(value.endswith("\r"), 1) \
        .otherwise(0)


def _numbered_lines(spark, fs, path, display):
    """Every line of the text files under `path` with its exact 1-based line
    number in its file (`_line`), its file's header line (`_header`: its
    first line that is not blank) and last line that is not blank
    (`_lastText`), and per-file facts for the header checks.

    Lines are split at \\n only (a \\r stays in `value`). Spark reads a file
    split by split; within a task the rows of one split come in file order,
    and monotonically_increasing_id() numbers a task's rows consecutively.
    So a line's number is the lines in the file's earlier splits + its id −
    the first id of its split + 1. One small aggregate per split (collected
    to the driver) gives the offsets. Files Hadoop would misread by their
    name are read by `_odd_lines`, whole, in file order."""
    from pyspark.sql import functions as F
    reader = spark.read.option("lineSep", "\n")
    whole = reader.text(path)
    files = list(whole.inputFiles())
    hadoop = _inspect(fs, files, display)
    odd = [f for f in files if not hadoop[_file_key(f)]]
    base = None
    try:
        if fs.is_dir(path):
            base = fs.fs(path).makeQualified(fs.path(path)).toUri() \
                .getPath().rstrip("/")
    except Exception:  # a glob: no partition columns for odd files
        base = None
    lines = None
    if not odd:
        lines = whole
    elif len(odd) < len(files):
        good = [f for f in files if hadoop[_file_key(f)]]
        lines = (reader.option("basePath", path) if base else reader) \
            .text(*good)
    # partition columns: Spark's, or those of the odd files' directories
    if lines is not None:
        parts = [c for c in lines.columns if c != "value"]
    elif base:
        parts = list(dict.fromkeys(k for f in odd
                                   for k in _partition_values(base, f)))
    else:
        parts = []
    length = _content_length(F.col("value"))
    text_at = F.when(length > 0, F.col("_mid"))
    head = F.struct(F.col("value"), F.is_valid_utf8("value").alias("valid"),
                    length.alias("length"))
    summary = [F.count(F.lit(1)).alias("n"), F.min("_mid").alias("first"),
               F.min(text_at).alias("firstText"),
               F.max(text_at).alias("lastText"),
               F.min_by(head, text_at).alias("head")]
    blocks = []
    if lines is not None:
        lines = lines.select(
            "*", F.col("_metadata.file_path").alias("_file"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_mid"))
        blocks += lines.groupBy("_file", "_block").agg(*summary).collect()
    extra = None
    if odd:
        values = {_file_key(f): [_partition_values(base, f).get(c)
                                 for c in parts] if base else []
                  for f in odd}
        sc = spark.sparkContext
        rows = sc.union([sc.binaryFiles(f) for f in odd]).flatMap(
            _odd_lines(values))
        schema = ", ".join(["_file string", "_mid long", "_raw binary",
                            *[f"`{c}` string" for c in parts]])
        extra = spark.createDataFrame(rows, schema).select(
            F.col("_raw").cast("string").alias("value"), "_file", "_mid",
            *parts)
        blocks += extra.withColumn("_block", F.lit(0)).groupBy(
            "_file", "_block").agg(*summary).collect()
    per_file = {}
    for r in blocks:
        per_file.setdefault(r["_file"], []).append(r)
    facts = {}
    for file, bl in per_file.items():
        bl.sort(key=lambda r: r["_block"])
        offset, header, head_row, last_text = 0, 0, None, 0
        offsets = []
        for r in bl:
            offsets.append(offset)
            if r["firstText"] is not None and not header:
                header = offset + r["firstText"] - r["first"] + 1
                head_row = r["head"]
            if r["lastText"] is not None:
                last_text = offset + r["lastText"] - r["first"] + 1
            offset += r["n"]
        facts[_file_key(file)] = {
            "name": file, "header": header, "head": head_row,
            "lastText": last_text, "blocks": [(r["_block"], r["first"], o)
                       for r, o in zip(bl, offsets)]}
    for f in files:
        facts.setdefault(_file_key(f), {"name": f, "header": 0,
                                        "head": None, "lastText": 0,
                                        "blocks": []})
    return lines, extra, parts, facts, len(blocks)


def _numbered(spark, lines, extra, parts, facts, header):
    """The lines with `_line`, `_header` (0 without a header) and
    `_lastText` (see `_numbered_lines`)."""
    from pyspark.sql import functions as F

    def header_of(f):
        return f["header"] if header else 0

    frames = []
    if lines is not None:
        table = _local_table(spark, [
            (f["name"], blk, first, offset, header_of(f), f["lastText"])
            for f in facts.values() for blk, first, offset in f["blocks"]],
            [("_file", "string"), ("_block", "long"), ("_first", "long"),
             ("_offset", "long"), ("_header", "long"),
             ("_lastText", "long")])
        frames.append(
            lines.join(F.broadcast(table), ["_file", "_block"])
            .withColumn("_line", F.col("_offset") + F.col("_mid")
                        - F.col("_first") + 1)
            .select("value", "_file", "_line", "_header", "_lastText",
                    *parts))
    if extra is not None:
        table = _local_table(spark, [
            (f["name"], header_of(f), f["lastText"]) for f in facts.values()],
            [("_file", "string"), ("_header", "long"), ("_lastText", "long")])
        frames.append(
            extra.join(F.broadcast(table), "_file")
            .select("value", "_file", F.col("_mid").alias("_line"),
                    "_header", "_lastText", *parts))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _header_names(f, delimiter, on_error, display):
    """A file's header names, or the Deno reader's error for its header
    line (fatal even under "skip"); blank lines before it fail first under
    "fail"."""
    at = display(f["name"])
    if f["header"] > 1 and on_error == "fail":
        raise JobError(f"{at}:1: {_BLANK}")
    value, valid, length = f["head"]
    line = f["header"]
    text = value[:-1] if value.endswith("\r") else value
    if length > MAX_LINE_BYTES:
        mac = " (a file with old Mac line endings?)" if "\r" in text else ""
        raise JobError(f"{at}:{line}: line longer than {MAX_LINE_BYTES} "
                       f"bytes{mac}")
    if not valid:
        raise JobError(f"{at}:{line}: {_NOT_UTF8}")
    if "\r" in text:
        raise JobError(f"{at}:{line}: {_CR_INSIDE}")
    try:
        return [x.strip(_JS_SPACE) for x in _split_line(text, delimiter)]
    except ValueError as e:
        raise JobError(f"{at}:{line}: {e}")


def _quoted_fields(delimiter):
    """How splitLine() splits a line with quotes, by a regular expression
    (Java's, in the JVM) over the column `_text`: (the raw fields matched,
    quotes kept, as `_m`; then, over `_m`: the fields, whether they make
    the whole line, and the reason when not)."""
    from pyspark.sql import functions as F
    d = "\\Q" + delimiter + "\\E"
    first = f"\\x{{{ord(delimiter[0]):x}}}"
    rest = delimiter[1:]
    # runs of characters, not single ones, in repeated groups: Java's regex
    # recurses once per repetition of a group
    if rest:
        other = f"{first}(?!\\Q{rest}\\E)"
        unquoted = f"(?:[^\"{first}]|{other})(?:[^{first}]++|{other})*+"
    else:
        unquoted = f"[^\"{first}][^{first}]*+"
    quoted = '"(?:[^"]++|"")*+"'
    field = f"\\G{d}(?:{quoted}|{unquoted})?(?={d}|\\z)"
    line = F.concat(F.lit(delimiter), F.col("_text"))
    matches = F.regexp_extract_all(line, F.lit(field), 0)
    m = F.col("_m")
    consumed = F.octet_length(F.array_join(m, ""))
    whole = consumed == F.octet_length(line)
    rem = line.substr(F.length(F.array_join(m, "")) + 1, F.lit(1 << 30))
    reason = F.when(rem.rlike(f"^{d}{quoted}"), F.lit(_AFTER_QUOTE)) \
        .otherwise(F.lit(_UNTERMINATED))
    fields = F.transform(m, lambda x: x.substr(len(delimiter) + 1, 1 << 30))
    return matches, fields, whole, reason


def read_csv(spark, b, display):
    """Parsed lines: user, item, event, ts, _error, _errval, _file, _loc."""
    from pyspark.sql import functions as F
    fmt = b["format"]
    delimiter = fmt.get("delimiter") or ","
    header = fmt.get("header") is not False
    lines, extra, partition_cols, facts, splits = _numbered_lines(
        spark, Fs(spark), b["events"], display)
    b["_splits"] = splits
    if not facts:
        raise JobError(f"{display(b['events'])}:1: empty file: no events")
    in_order = [facts[k] for k in sorted(facts)]
    for f in in_order:
        if f["lastText"] == 0:
            raise JobError(f"{display(f['name'])}:1: empty file: no events")

    def index_of(key, names):
        col = fmt.get(key)
        if col is None:
            return None
        if isinstance(col, (int, float)) and not isinstance(col, bool):
            return ("index", int(col))
        if names is not None and col in names:
            return ("index", names.index(col))
        if col in partition_cols:
            return ("partition", col)
        return None

    columns = None
    if header:
        headers = {}
        for f in in_order:
            names = _header_names(f, delimiter, b["onError"], display)
            wanted = [fmt[k] for k in ("user", "item", "event", "timestamp")
                      if isinstance(fmt.get(k), str)
                      and fmt[k] not in partition_cols]
            absent = [c for c in wanted if c not in names]
            if absent:
                raise JobError(
                    f"{display(f['name'])}:{f['header']}: missing header: "
                    f"expected column{'s' if len(absent) > 1 else ''} "
                    f"{', '.join(_shown(c) for c in absent)}, found "
                    f"{_shown(delimiter.join(names))}")
            headers[f["name"]] = names
        distinct = {tuple(v) for v in headers.values()}
        if len(distinct) > 1:
            a = in_order[0]["name"]
            other = next(f["name"] for f in in_order
                         if headers[f["name"]] != headers[a])
            raise JobError(
                f"{display(other)}:{facts[_file_key(other)]['header']}: "
                f"header {_shown(delimiter.join(headers[other]))} differs "
                f"from {display(a)}'s {_shown(delimiter.join(headers[a]))}"
                "; every file of a directory must have the same columns")
        names = list(distinct.pop())
        columns = len(names)
    else:
        names = None
        if fmt.get("columns") is not None:
            columns = int(fmt["columns"])
    where = {k: index_of(k, names)
             for k in ("user", "item", "event", "timestamp")}
    max_index = max([w[1] for w in where.values()
                     if w is not None and w[0] == "index"] + [-1])
    if columns is not None and max_index >= columns:
        first = in_order[0]
        raise JobError(f"{display(first['name'])}:"
                       f"{first['header'] if header else 0}: column index "
                       f"{max_index} is out of range for {columns} columns")
    minimum = max_index + 1

    numbered = _numbered(spark, lines, extra, partition_cols, facts, header)
    value = F.col("value")
    length = _content_length(value)
    # the header line is read above; a blank line before the last line
    # that is not blank is malformed, one after it is not
    data = numbered.filter((F.col("_line") != F.col("_header"))
                           & ((length > 0)
                              | (F.col("_line") < F.col("_lastText"))))
    data = data.select(
        "*", length.alias("_len"),
        F.when(value.endswith("\r"), value.substr(F.lit(1),
                                                   F.length(value) - 1))
        .otherwise(value).alias("_text"))
    text = F.col("_text")
    matches, quoted_fields, whole, split_reason = _quoted_fields(delimiter)
    data = data.select("*", F.when(text.contains('"'), matches).alias("_m"))
    data = data.select(
        "*", F.when(F.col("_m").isNotNull(), whole).alias("_whole"),
        F.when(F.col("_m").isNotNull(), split_reason).alias("_split"),
        F.when(F.col("_m").isNotNull(), quoted_fields).otherwise(
            F.split(text, "\\Q" + delimiter + "\\E", -1)).alias("_p"))

    def column(key):
        w = where[key]
        if w is None:
            return F.lit(None).cast("string")
        if w[0] == "partition":
            return F.col(w[1]).cast("string")
        return F.element_at(F.col("_p"), w[1] + 1)

    n = F.size(F.col("_p"))
    if columns is not None:
        bad_count = n != columns
        count_msg = F.concat(F.lit(f"expected {columns} columns, got "),
                             n.cast("string"))
    else:
        bad_count = n < minimum
        count_msg = F.concat(
            F.lit(f"expected at least {minimum} columns, got "),
            n.cast("string"))
    long_msg = F.concat(
        F.lit(f"line longer than {MAX_LINE_BYTES} bytes"),
        F.when(text.contains("\r"),
               F.lit(" (a file with old Mac line endings?)"))
        .otherwise(F.lit("")))
    # (checks of the line as a whole, then of its fields, in the Deno
    # reader's order)
    pre = [(F.col("_len") == 0, F.lit(_BLANK)),
           (F.col("_len") > MAX_LINE_BYTES, long_msg),
           (~F.is_valid_utf8("value"), F.lit(_NOT_UTF8)),
           (text.contains("\r"), F.lit(_CR_INSIDE)),
           (F.col("_whole") == F.lit(False), F.col("_split")),
           (bad_count, count_msg)]
    pre_error = None
    for cond, msg in pre:
        pre_error = F.when(cond, msg) if pre_error is None \
            else pre_error.when(cond, msg)
    # a quote in a key field (the first such field is shown)
    keys = [column(k) for k in ("user", "item", "event", "timestamp")
            if where[k] is not None and where[k][0] == "index"]
    for raw in keys:
        pre_error = pre_error.when(raw.contains('"'), F.lit(_QUOTED_KEY))
    pre_val = F.coalesce(*[F.when(k.contains('"'), k) for k in keys],
                         F.lit(None).cast("string"))
    # no timestamp column: file order is time, each event's timestamp is
    # its line number (as the Deno reader does)
    no_time = fmt.get("timestamp") is None
    fields = data.select(
        pre_error.alias("_pre_error"), pre_val.alias("_pre_val"),
        column("user").alias("_user"), column("item").alias("_item"),
        column("event").alias("_rawev"), column("timestamp").alias("_tsraw"),
        *([F.col("_line").cast("double").alias("_tsval")] if no_time else []),
        F.col("_file"), F.col("_line").alias("_loc"))
    return _validated(fields, fmt, typed_ts=no_time)


def read_parquet(spark, b, display):
    """Parsed rows of Parquet files: user, item, event, ts, _error, _file,
    _loc (the row's 1-based index in its file)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    fmt = b["format"]
    df = spark.read.parquet(b["events"])
    names = df.columns

    def col(key):
        c = fmt.get(key)
        if c is None:
            return None
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            if int(c) >= len(names):
                raise JobError(
                    f'{display(b["events"])}: "{key}" column index {int(c)} '
                    f"is out of range for {len(names)} columns")
            return names[int(c)]
        if c not in names:
            raise JobError(
                f'{display(b["events"])}: no column "{c}" for "{key}"; '
                f"columns: {', '.join(names)}")
        return c

    cols = {k: col(k) for k in ("user", "item", "event", "timestamp")}
    kinds = {f.name: f.dataType for f in df.schema.fields}
    unit = fmt.get("timestampUnit") or "ms"
    try:
        loc = F.col("_metadata.row_index") + 1
        df.select(loc).schema  # analysis only: is row_index there?
    except Exception:  # a reader without row_index
        loc = F.lit(None).cast("long")
    # no timestamp column: the row's index in its file is its time
    ts_col = F.col(cols["timestamp"]) if cols["timestamp"] else loc
    ts_type = kinds[cols["timestamp"]] if cols["timestamp"] else T.LongType()
    if isinstance(ts_type, (T.TimestampType, T.TimestampNTZType)):
        ts_value = F.unix_millis(ts_col.cast("timestamp")).cast("double")
    elif isinstance(ts_type, T.DateType):
        ts_value = F.unix_millis(ts_col.cast("timestamp")).cast("double")
    elif isinstance(ts_type, T.NumericType):
        ts_value = ts_col.cast("double") * (1000.0 if unit == "s" else 1.0)
    else:
        ts_value = None
    if not cols["timestamp"]:
        ts_value = loc.cast("double")
    fields = df.select(
        F.lit(None).cast("string").alias("_pre_error"),
        F.lit(None).cast("string").alias("_pre_val"),
        F.col(cols["user"]).cast("string").alias("_user"),
        F.col(cols["item"]).cast("string").alias("_item"),
        (F.col(cols["event"]).cast("string") if cols["event"]
         else F.lit(None).cast("string")).alias("_rawev"),
        ts_col.cast("string").alias("_tsraw"),
        (ts_value if ts_value is not None
         else F.lit(None).cast("double")).alias("_tsval"),
        F.col("_metadata.file_path").alias("_file"),
        loc.alias("_loc"))
    return _validated(fields, fmt, typed_ts=ts_value is not None)


def _input_kind(fs, b):
    if b["input"] != "auto":
        return b["input"]
    path = b["events"]
    if not fs.exists(path):
        raise JobError(f"{path}:0: cannot open: no such file or directory")
    files = fs.list_files(path) if fs.is_dir(path) else [path]
    if files and all(f.endswith(".parquet") for f in files):
        return "parquet"
    return "csv"


# ------------------------------------------------------------ indicators


def _xlogx(x, exact):
    """x·ln x with 0 for 0, as LlrTable's table (x a count).

    `exact`: ln is java.lang.Math.log, which gives the same doubles as
    JavaScript's Math.log (V8) where Spark's own ln (StrictMath.log, fdlibm)
    is 1 ulp off for about 0.7% of counts; a root LLR is a difference of
    such terms, so that ulp shows in scores near 0 and can flip which
    indicators pass a threshold. Spark has no SQL function for Math.log:
    java_method calls it by reflection (its value comes back as text, which
    round-trips exactly), several times slower, so the job scores every pair
    with ln first and rescores exactly only the pairs that may pass."""
    from pyspark.sql import functions as F
    xd = x.cast("double")
    ln = _math_log(xd) if exact else F.log(xd)
    return F.when(xd == 0.0, F.lit(0.0)).otherwise(xd * ln)


def _math_log(x):
    """java.lang.Math.log(x) (a double column): JavaScript's Math.log."""
    from pyspark.sql import functions as F
    return F.java_method(F.lit("java.lang.Math"), F.lit("log"),
                         x.cast("double")).cast("double")


def with_llr(df, n, exact, out):
    """LlrTable.rootLlr's raw LLR over columns k11, na (= k11 + k12), nb
    (= k11 + k21) and N users: the same float64 operations in the same order
    (in steps, so that Spark computes each x·ln x once)."""
    from pyspark.sql import functions as F
    k11 = F.col("k11")
    df = df.select("*", (F.col("na") - k11).alias("_k12"),
                   (F.col("nb") - k11).alias("_k21"),
                   (F.lit(n) - F.col("na") - F.col("nb") + k11)
                   .alias("_k22"))
    k12, k21, k22 = F.col("_k12"), F.col("_k21"), F.col("_k22")
    t = {name: _xlogx(col, exact).alias(f"_t{name}") for name, col in (
        ("11", k11), ("12", k12), ("21", k21), ("22", k22),
        ("r1", k11 + k12), ("r2", k21 + k22), ("c1", k11 + k21),
        ("c2", k12 + k22), ("n", F.lit(n).cast("long")))}
    df = df.select("*", *t.values())

    def c(name):
        return F.col(f"_t{name}")

    total = c("n")
    df = df.select(
        "*",
        (total - (c("r1") + c("r2"))).alias("_row"),
        (total - (c("c1") + c("c2"))).alias("_col"),
        (total - (((c("11") + c("12")) + c("21")) + c("22"))).alias("_mat"))
    row, col, mat = F.col("_row"), F.col("_col"), F.col("_mat")
    llr = F.when(row + col < mat, F.lit(0.0)).otherwise(
        F.lit(2.0) * ((row + col) - mat))
    return df.withColumn(out, llr).drop(
        "_k12", "_k21", "_k22", "_row", "_col", "_mat",
        *[f"_t{name}" for name in t])


def negative(k11="k11", na="na", nb="nb", n=None):
    """The sign test of LlrTable.rootLlr: k11/(k11+k12) < k21/(k21+k22).
    k21 + k22 = 0 divides by zero: NULL here, NaN in JavaScript; both make
    the comparison false (positive)."""
    from pyspark.sql import functions as F
    left = F.col(k11).cast("double") / F.col(na).cast("double")
    right = (F.col(nb) - F.col(k11)).cast("double") / \
        (F.lit(n) - F.col(na)).cast("double")
    return F.coalesce(left < right, F.lit(False))


def signed_root(llr, neg):
    """The signed root; the negative is 0 - root so that a zero is +0
    (JavaScript's JSON writes -0 as 0, Spark's as -0.0)."""
    from pyspark.sql import functions as F
    root = F.sqrt(llr)
    return F.when(neg, F.lit(0.0) - root).otherwise(root)


def _case(col, values, default=None):
    """CASE col WHEN i THEN values[i] ... as a column (literal if all same)."""
    from pyspark.sql import functions as F
    if len(set(values)) == 1:
        return F.lit(values[0])
    expr = None
    for i, v in enumerate(values):
        expr = (F.when(col == i, F.lit(v)) if expr is None
                else expr.when(col == i, F.lit(v)))
    return expr.otherwise(F.lit(default if default is not None else values[0]))


def build(spark, fs, raw):
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t0 = time.time()

    def log(message):  # with the time since the build started
        _log(f"{message} [{time.time() - t0:.1f} s]")

    b = resolve_build(raw)
    display = Display(b["events"])
    kind = _input_kind(fs, b)
    log(f"reading {b['events']} ({kind}, format {b['formatName']})")
    parsed = (read_parquet if kind == "parquet" else read_csv)(spark, b,
                                                                display)

    # events per type (before binarizing) and malformed lines
    summary = (parsed.groupBy(F.when(F.col("_error").isNull(), F.col("event"))
                              .alias("type")).count().collect())
    events_read = {r["type"]: r["count"] for r in summary
                   if r["type"] is not None}
    # first-seen order is unknowable in a distributed read: by name
    events_read = dict(sorted(events_read.items(),
                              key=lambda kv: _code_units(kv[0])))
    errors = sum(r["count"] for r in summary if r["type"] is None)
    skipped = _malformed(parsed, b, kind, display, errors, log)
    specs = indicator_fields(events_read, b)
    events = parsed.filter(F.col("_error").isNull()).select(
        "user", "item", "event", "ts")
    if b.get("saveEvents"):
        target = b["saveEvents"]
        _prepare_out(fs, target, SAVED_FILES)
        log(f"saving the events as Parquet in {target}")
        (events.select("user", "item", F.col("ts").alias("timestamp"),
                       "event")
         .write.mode("overwrite").partitionBy("event").parquet(target))
    log("fields: " + ", ".join(f"{f} ({r} × {c})" for f, r, c in specs))

    # binarize: latest timestamp per (type, user, item); one shuffle by
    # (type, user) serves both the aggregate and the history-cap window
    binary = (events.repartition("event", "user")
              .groupBy("event", "user", "item").agg(F.max("ts").alias("ts"))
              .persist(StorageLevel.MEMORY_AND_DISK))
    # items in id order (UTF-16 code units): order-preserving long ids
    items = (binary.select("item").distinct()
             .orderBy(F.encode("item", "UTF-16BE"))
             .withColumn("iid", F.monotonically_increasing_id())
             .persist(StorageLevel.MEMORY_AND_DISK))
    num_items = items.count()
    num_users = binary.select("user").distinct().count()
    log(f"{sum(events_read.values())} events "
        f"({', '.join(f'{k} {v}' for k, v in events_read.items())}), "
        f"{num_users} users, {num_items} items")

    types = sorted({t for _, r, c in specs for t in (r, c)})
    cap = b["maxHistoryPerUser"]
    recent = Window.partitionBy("event", "user").orderBy(
        F.col("ts").desc(), F.encode("item", "UTF-16BE"))
    capped = (binary.filter(F.col("event").isin(*types))
              .withColumn("_rn", F.row_number().over(recent))
              .filter(F.col("_rn") <= cap)
              .join(items, "item")
              .withColumn("n", F.count(F.lit(1)).over(
                  Window.partitionBy("event", "iid")))
              .select("event", "user", "iid", "n")
              .persist(StorageLevel.MEMORY_AND_DISK))

    # co-occurrences of every field at once: self-join of the capped
    # interactions on (field, user), counted per (field, a, b). The shuffle
    # is bounded by Σ over users of row items × column items.
    table = _local_table(
        spark, [(fi, r, c, r == c) for fi, (_, r, c) in enumerate(specs)],
        [("f", "int"), ("rows", "string"), ("columns", "string"),
         ("same", "boolean")])
    left = capped.join(F.broadcast(table.select(
        "f", F.col("rows").alias("event"))), "event").select(
        "f", "user", F.col("iid").alias("a"), F.col("n").alias("na"))
    right = capped.join(F.broadcast(table.select(
        "f", F.col("columns").alias("event"), "same")), "event").select(
        "f", "user", F.col("iid").alias("b"), F.col("n").alias("nb"), "same")
    pairs = (left.join(right, ["f", "user"])
             .filter(~(F.col("same") & (F.col("a") == F.col("b")))))
    k11 = pairs.groupBy("f", "a", "na", "b", "nb").agg(
        F.count(F.lit(1)).alias("k11"))

    def option(name, key):
        value = b["fields"].get(name, {}).get(key)
        return b[key] if value is None else value

    def threshold(name):  # a field's own (either form) replaces the build's
        own = b["fields"].get(name, {})
        if "minRootLlr" in own:
            return own["minRootLlr"], own["significance"]
        return b["minRootLlr"], b["significance"]

    mins = [threshold(f)[0] for f, _, _ in specs]
    levels = [threshold(f)[1] for f, _, _ in specs]
    ks = [option(f, "maxIndicatorsPerItem") for f, _, _ in specs]
    # Score every pair with Spark's ln; rescore exactly (Math.log) the pairs
    # that may pass: with a positive threshold, positively associated pairs
    # whose LLR is within a tolerance of threshold², far above the
    # difference between the two logarithms (a few ulps of N·ln N).
    k11 = k11.withColumn("_neg", negative(n=num_users))
    if all(m > 0 for m in mins):
        tol = 1e-12 * (num_users * math.log(max(num_users, 1)) + 1)
        k11 = with_llr(k11, num_users, False, "_llr")
        k11 = k11.filter(~F.col("_neg") & (F.col("_llr") >= _case(
            F.col("f"), [m * m - tol for m in mins]))).drop("_llr")
    elif any(m > 0 for m in mins):
        tol = 1e-12 * (num_users * math.log(max(num_users, 1)) + 1)
        k11 = with_llr(k11, num_users, False, "_llr")
        maybe = _case(F.col("f"), [m > 0 for m in mins])
        k11 = k11.filter(~maybe | (~F.col("_neg") & (F.col("_llr") >= _case(
            F.col("f"), [m * m - tol if m > 0 else 0.0 for m in mins]))))
        k11 = k11.drop("_llr")
    scored = with_llr(k11, num_users, True, "_llr").select(
        "f", "a", "b", signed_root(F.col("_llr"), F.col("_neg"))
        .alias("score"))
    if any(m != -math.inf for m in mins):
        floor = _case(F.col("f"), [m if m != -math.inf else -sys.float_info.max
                                   for m in mins])
        scored = scored.filter(F.col("score") >= floor)
    best = Window.partitionBy("f", "a").orderBy(F.col("score").desc(),
                                                 F.col("b").asc())
    kept = (scored.withColumn("rank", F.row_number().over(best))
            .filter(F.col("rank") <= max(ks)))
    if len(set(ks)) > 1:
        kept = kept.filter(F.col("rank") <= _case(F.col("f"), ks))
    weighting = b["weights"]
    if weighting != "none":
        kept = kept.filter(F.col("score") > MIN_WEIGHTED_ROOT_LLR)
    kept = kept.select("f", "a", "b", "rank", "score").persist(
        StorageLevel.MEMORY_AND_DISK)
    # indicators kept per field, and the items having each field (idf's N)
    per_field = {r["f"]: (r["kept"], r["docCount"]) for r in kept.groupBy(
        "f").agg(F.count(F.lit(1)).alias("kept"),
                 F.countDistinct("a").alias("docCount")).collect()}
    log("indicators kept: " + ", ".join(
        f"{f} {per_field.get(i, (0, 0))[0]}"
        for i, (f, _, _) in enumerate(specs)))
    if weighting == "llr-idf":
        doc_count = _case(F.col("f"), [per_field.get(i, (0, 0))[1]
                                       for i in range(len(specs))])
        doc_freq = kept.groupBy("f", "b").agg(
            F.count(F.lit(1)).alias("docFreq"))
        # Math.log as in JavaScript (see _xlogx), not Spark's StrictMath
        idf = _math_log(F.lit(1.0) + (
            (doc_count - F.col("docFreq")).cast("double") + F.lit(0.5))
            / (F.col("docFreq").cast("double") + F.lit(0.5)))
        weighted = kept.join(doc_freq, ["f", "b"]).withColumn(
            "weight", F.col("score") * idf)
    elif weighting == "llr":
        weighted = kept.withColumn("weight", F.col("score"))
    else:
        weighted = kept.withColumn("weight", F.lit(None).cast("double"))
    named = (weighted.join(items.select(F.col("iid").alias("b"),
                                        F.col("item").alias("bid")), "b")
             .select("f", "a", "rank", "bid", "score", "weight"))

    # documents: every item, fields in spec order, then scores, weights,
    # metadata (the Deno export's key order)
    lists = named.groupBy("a").agg(F.sort_array(F.collect_list(
        F.struct("f", "rank", "bid", "score", "weight"))).alias("c"))
    primary = specs[0][1]
    popularity = (capped.filter(F.col("event") == primary)
                  .groupBy("iid").agg(F.count(F.lit(1)).alias("popularity")))
    docs = (items.join(lists, items.iid == lists.a, "left")
            .join(popularity, "iid", "left"))

    def field_of(fi, attr, kind):
        chosen = F.filter(F.col("c"), lambda x: x["f"] == fi)
        return F.coalesce(F.transform(chosen, lambda x: x[attr]),
                          F.array().cast(f"array<{kind}>"))

    names = [f for f, _, _ in specs]
    parts = [F.col("item").alias("id")]
    parts += [field_of(i, "bid", "string").alias(f)
              for i, f in enumerate(names)]
    parts.append(F.struct(*[field_of(i, "score", "double").alias(f)
                            for i, f in enumerate(names)]).alias("scores"))
    if weighting != "none":
        parts.append(F.struct(*[field_of(i, "weight", "double").alias(f)
                                for i, f in enumerate(names)])
                     .alias("weights"))
    parts.append(F.struct(F.coalesce(F.col("popularity"), F.lit(0))
                          .cast("long").alias("popularity")).alias("metadata"))
    docs = docs.select("iid", F.to_json(F.struct(*parts)).alias("value"))
    if b.get("partitions"):
        docs = docs.repartitionByRange(b["partitions"], "iid") \
            .sortWithinPartitions("iid")
    else:
        docs = docs.orderBy("iid")

    out = b["out"]
    _prepare_out(fs, out)
    log(f"writing {num_items} documents to {out}")
    docs.select("value").write.mode("overwrite").text(out)

    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "tool": {"name": "cco-es", "version": b.get("toolVersion")
                 or TOOL_VERSION, "engine": "spark"},
        "created": datetime.now(timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z"),
        "primaryEvent": b["primaryEvent"],
        "fields": [],
        "maxHistoryPerUser": cap,
        "counts": {"events": events_read, "users": num_users,
                   "items": num_items, "documents": num_items},
        "source": b.get("source") or {"events": b["events"],
                                      "format": b["formatName"]},
        "metadata": {"popularity": "number"},
    }
    for i, (name, rows, cols) in enumerate(specs):
        field = {"name": name, "rows": rows, "columns": cols,
                 "weights": weighting}
        if math.isfinite(mins[i]):
            field["minRootLlr"] = _plain(mins[i])
        if levels[i] is not None:
            field["significance"] = _plain(levels[i])
        field["maxIndicatorsPerItem"] = ks[i]
        field["indicators"] = per_field.get(i, (0, 0))[0]
        manifest["fields"].append(field)
    fs.write_text(f"{out}/manifest.json", json.dumps(manifest, indent=2)
                  + "\n")
    parts_written = _rename_parts(fs, out)
    for df in (kept, capped, items, binary):
        df.unpersist()
    seconds = time.time() - t0
    log("done: "
        + ", ".join(f"{f['name']} {f['indicators']}"
                    for f in manifest["fields"]))
    return {"out": out, "manifest": manifest, "skipped": skipped,
            "parts": parts_written, "seconds": seconds,
            "splits": b.get("_splits", 0)}


def with_sql_conf(spark, conf, run):
    """Runs `run` with Spark SQL settings for this build only."""
    if not conf:
        return run()
    if not isinstance(conf, dict):
        raise JobError('"sqlConf" must map Spark SQL settings to values')
    before = {k: spark.conf.get(k, None) for k in conf}
    try:
        for k, v in conf.items():
            spark.conf.set(k, str(v))
        return run()
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def _plain(x):
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else x


OUR_FILES = re.compile(r"^(part-.*|manifest\.json|_SUCCESS|\..*\.crc)$")
SAVED_FILES = re.compile(r"^(event=.*|_SUCCESS|\..*\.crc)$")


def _prepare_out(fs, out, ours=OUR_FILES):
    """Refuses to overwrite a directory that is not a previous output."""
    if not fs.exists(out):
        return
    if not fs.is_dir(out):
        raise JobError(f"out {out} exists and is not a directory")
    foreign = [c for c in fs.children(out)
               if not ours.match(c.rstrip("/").rsplit("/", 1)[-1])]
    if foreign:
        raise JobError(
            f"out {out} is not empty and not a cco-es model directory "
            f"(has {foreign[0].rsplit('/', 1)[-1]}); choose another --out")
    fs.delete(out)


def _rename_parts(fs, out):
    """part-00000-<uuid>-c000.txt → part-00000.ndjson, then drops the .crc
    files of the local file system (the output is the parts, the manifest
    and _SUCCESS)."""
    names = []
    for child in sorted(fs.children(out)):
        name = child.rsplit("/", 1)[-1]
        m = re.match(r"^part-(\d+)-.*\.txt$", name)
        if m:
            target = f"{out}/part-{m.group(1)}.ndjson"
            fs.rename(child, target)
            names.append(target)
    fs.drop_checksums(out)
    return names


# -------------------------------------------------------------------- CLI


def _parser():
    p = argparse.ArgumentParser(
        prog="cco_job.py",
        description="cco-es indicators on Apache Spark (see module doc).")
    p.add_argument("--config", help="JSON file: {\"builds\": [options, ...]}"
                   " or one build's options")
    p.add_argument("--events", help="events file or directory (CSV or "
                   "Parquet; partitioned directories allowed)")
    p.add_argument("--out", help="output directory (NDJSON parts and "
                   "manifest.json)")
    p.add_argument("--input", choices=["auto", "csv", "parquet"])
    p.add_argument("--format", help="preset: " + ", ".join(PRESETS))
    p.add_argument("--format-config", help="JSON file with an EventFormat")
    p.add_argument("--delimiter")
    p.add_argument("--no-header", action="store_true")
    for c in ("user", "item", "event", "timestamp"):
        p.add_argument(f"--{c}-col")
    p.add_argument("--timestamp-unit", choices=["ms", "s", "datetime"])
    p.add_argument("--event", help="fixed event name (no event column)")
    p.add_argument("--event-alias", action="append", default=[],
                   help="RAW=NAME (repeatable)")
    p.add_argument("--accept-events", help="A,B,C")
    p.add_argument("--primary")
    p.add_argument("--secondary", help="A,B (empty: none)")
    p.add_argument("--similar", help="event type, or none")
    p.add_argument("--min-llr")
    p.add_argument("--significance", help="threshold as a significance "
                   f"level (default {DEFAULT_SIGNIFICANCE})")
    p.add_argument("--max-indicators")
    p.add_argument("--history-cap")
    p.add_argument("--field-min-llr", action="append", default=[],
                   help="FIELD=X (repeatable)")
    p.add_argument("--field-max-indicators", action="append", default=[],
                   help="FIELD=N (repeatable)")
    p.add_argument("--field-significance", action="append", default=[],
                   help="FIELD=A (repeatable)")
    p.add_argument("--weights", required=False, help="required: "
                   f'{", ".join(WEIGHTINGS)} (learned is not implemented)')
    p.add_argument("--on-error", choices=["fail", "skip"])
    p.add_argument("--partitions", help="number of output files")
    p.add_argument("--save-events", help="also write the events read as "
                   "Parquet into this directory (partitioned by event type)")
    p.add_argument("--describe", action="store_true",
                   help="print the presets and versions as JSON, then exit")
    return p


def _flags_build(a):
    build = {}
    if a.format_config:
        with open(a.format_config, encoding="utf-8") as f:
            fmt = json.load(f)
    else:
        fmt = dict(PRESETS[a.format]) if a.format else None
        if a.format and a.format not in PRESETS:
            raise JobError(
                f'unknown format "{a.format}"; presets: {", ".join(PRESETS)}')
    if a.format and a.format_config:
        raise JobError("--format and --format-config are exclusive")
    custom = any([a.delimiter, a.no_header, a.user_col, a.item_col,
                  a.event_col, a.timestamp_col, a.timestamp_unit, a.event,
                  a.event_alias, a.accept_events])
    if custom:
        fmt = dict(fmt or PRESETS["retailrocket"])
        fmt.pop("primaryEvent", None)
        if a.delimiter is not None:
            fmt["delimiter"] = "\t" if a.delimiter in ("\\t", "tab") \
                else a.delimiter
        if a.no_header:
            fmt["header"] = False
            # a preset's header names cannot work without a header
            for key in ("user", "item", "event", "timestamp"):
                if isinstance(fmt.get(key), str):
                    del fmt[key]
            if fmt.get("event") is None and a.event_col is None:
                fmt.pop("events", None)

        def col(v):
            return int(v) if re.fullmatch(r"\d+", v) else v

        for key in ("user", "item", "timestamp"):
            v = getattr(a, f"{key}_col")
            if v is not None:
                fmt[key] = col(v)
        if a.event_col is not None:
            fmt["event"] = col(a.event_col)
        if a.event is not None:
            fmt["fixedEvent"] = a.event
            fmt.pop("event", None)
        if a.timestamp_unit:
            fmt["timestampUnit"] = a.timestamp_unit
        if a.event_alias:
            aliases = dict(fmt.get("eventAliases") or {})
            for x in a.event_alias:
                raw, eq, name = x.partition("=")
                if not eq or not raw or not name:
                    raise JobError(
                        f'event alias must look like raw=name, got "{x}"')
                aliases[raw] = name
            fmt["eventAliases"] = aliases
        if a.accept_events is not None:
            fmt["events"] = [s.strip() for s in a.accept_events.split(",")
                             if s.strip()]
        if (a.event_col is not None or a.event is not None) and \
                a.accept_events is None and not a.event_alias:
            fmt.pop("events", None)
        build["format"] = fmt
        # the preset's primary event holds while its event names do (a
        # fixed event is its own primary: resolve_build takes it)
        changed = a.event_col is not None or bool(a.event_alias) or \
            a.accept_events is not None
        if a.format and not a.primary and a.event is None and not changed \
                and fmt.get("event") is not None:
            build["primaryEvent"] = PRESETS[a.format]["primaryEvent"]
    elif fmt is not None:
        build["format"] = a.format or fmt
    # one threshold per level, as build-index's flags
    if a.min_llr is not None and a.significance is not None:
        raise JobError("--min-llr and --significance are exclusive")
    for key, value in (("events", a.events), ("out", a.out),
                       ("input", a.input), ("primaryEvent", a.primary),
                       ("minRootLlr", a.min_llr),
                       ("significance", a.significance),
                       ("maxIndicatorsPerItem", a.max_indicators),
                       ("maxHistoryPerUser", a.history_cap),
                       ("weights", a.weights), ("onError", a.on_error),
                       ("partitions", a.partitions),
                       ("saveEvents", a.save_events)):
        if value is not None:
            build[key] = value
    if a.secondary is not None:
        build["secondaryEvents"] = [s.strip() for s in a.secondary.split(",")
                                    if s.strip()]
    if a.similar is not None:
        build["similarEvent"] = None if a.similar == "none" else a.similar
    fields = {}
    for flag, key in ((a.field_min_llr, "minRootLlr"),
                      (a.field_significance, "significance"),
                      (a.field_max_indicators, "maxIndicatorsPerItem")):
        for x in flag:
            name, eq, value = x.partition("=")
            if not eq or not name or not value:
                raise JobError(f"field options look like FIELD=VALUE, got "
                               f'"{x}"')
            fields.setdefault(name, {})[key] = value
    for name, opts in fields.items():
        if "minRootLlr" in opts and "significance" in opts:
            raise JobError(f"--field-min-llr {name}=... and "
                           f"--field-significance {name}=... are exclusive")
    if fields:
        build["fields"] = fields
    return _accept_named(build)


def _accept_named(build):
    """The event types a build names are accepted even when the format
    lists others (cli/_format.ts acceptNamed)."""
    fmt = build.get("format")
    if isinstance(fmt, str):
        fmt = dict(PRESETS.get(fmt) or {})
    if not isinstance(fmt, dict) or not fmt.get("events"):
        return build
    named = [build.get("primaryEvent"), *(build.get("secondaryEvents") or []),
             build.get("similarEvent")]
    extra = [n for n in dict.fromkeys(named)
             if isinstance(n, str) and n not in fmt["events"]]
    if extra:
        name = build.get("format")
        fmt["events"] = [*fmt["events"], *extra]
        build["format"] = fmt
        if isinstance(name, str) and "primaryEvent" not in build:
            build["primaryEvent"] = PRESETS[name]["primaryEvent"]
    return build


def main(argv):
    a = _parser().parse_args(argv)
    if a.describe:
        print(json.dumps({"presets": PRESETS, "defaults": {
            "toolVersion": TOOL_VERSION,
            "manifestFormat": MANIFEST_FORMAT,
            "manifestVersion": MANIFEST_VERSION,
            "maxIndicatorsPerItem": DEFAULT_MAX_INDICATORS_PER_ITEM,
            "minRootLlr": DEFAULT_MIN_ROOT_LLR,
            "significance": DEFAULT_SIGNIFICANCE,
            "maxHistoryPerUser": DEFAULT_MAX_HISTORY_PER_USER,
            "minWeightedRootLlr": MIN_WEIGHTED_ROOT_LLR,
            "weightings": WEIGHTINGS}}))
        return 0
    try:
        if a.config:
            with open(a.config, encoding="utf-8") as f:
                config = json.load(f)
            builds = config["builds"] if "builds" in config else [config]
            if a.events or a.out:
                raise JobError("--config takes the builds' options; "
                               "give --events/--out inside it")
        else:
            builds = [_flags_build(a)]
        for raw in builds:
            resolve_build(raw)  # fail on bad options before starting Spark
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.appName("cco-es indicators") \
            .getOrCreate()
        spark.sparkContext.setLogLevel(
            os.environ.get("CCO_SPARK_LOG_LEVEL", "WARN"))
        # the job's semantics depend on these: NULL on failed casts and
        # division by zero (as NaN in JavaScript), UTC date-times
        spark.conf.set("spark.sql.ansi.enabled", "false")
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        # partition directory values are ids and names: keep them strings
        spark.conf.set(
            "spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        # let adaptive execution coalesce the shuffles of cached plans too
        # (small logs would otherwise run 200 tasks per stage)
        spark.conf.set(
            "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning",
            "true")
        go_on = bool(a.config and config.get("continueOnError"))
        try:
            fs = Fs(spark)
            for raw in builds:
                try:
                    result = with_sql_conf(spark, raw.get("sqlConf"),
                                           lambda: build(spark, fs, raw))
                except JobError as e:
                    if not go_on:
                        raise
                    result = {"error": str(e).splitlines()[0]}
                    print(ERROR_MARK + result["error"], file=sys.stderr,
                          flush=True)
                print(RESULT_MARK + json.dumps(result), flush=True)
        finally:
            spark.stop()
        return 0
    except JobError as e:
        print(ERROR_MARK + str(e).splitlines()[0], file=sys.stderr,
              flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
