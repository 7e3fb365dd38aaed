"""Vectorized Python reference of cco-es's indicator math (numpy + pandas +
scipy.sparse): the "obvious" approach the Deno engine is benchmarked and
checked against by `deno task bench`.

Same definitions as lib/indicators.ts: interactions binarized per (user,
item, event type), each user's most recent `cap` distinct items per type
(ties by item id), N = all users with any event, k11 = users with both, signed
root LLR (Mahout's formula), threshold `min_llr`, top `k` per item by score
then item id, diagonal excluded for same-type matrices.

Usage: python3 reference_cco.py EVENTS.csv OUT.tsv [--format retailrocket|taobao|movielens]
         [--primary transaction] [--cap 500] [--k 50] [--min-llr 5]
Writes one line per (field, item) with indicators: field<TAB>item<TAB>id,id,...
and prints phase timings as JSON on stdout.
"""

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

FORMATS = {
    "retailrocket": dict(sep=",", header=0, names=None,
                         cols=("visitorid", "itemid", "event", "timestamp"), aliases={}),
    "taobao": dict(sep=",", header=None, names=["user", "item", "cat", "event", "timestamp"],
                   cols=("user", "item", "event", "timestamp"),
                   aliases={"pv": "view", "cart": "addtocart", "fav": "fav", "buy": "transaction"}),
    "movielens": dict(sep="\t", header=None, names=["user", "item", "event", "timestamp"],
                      cols=("user", "item", "event", "timestamp"),
                      aliases={"1": "dislike", "2": "dislike", "3": "neutral", "4": "like", "5": "like"}),
}


def xlogx(x):
    x = x.astype(np.float64)
    out = np.zeros_like(x)
    nz = x > 0
    out[nz] = x[nz] * np.log(x[nz])
    return out


def root_llr(k11, k12, k21, k22):
    row = xlogx(k11 + k12 + k21 + k22) - xlogx(k11 + k12) - xlogx(k21 + k22)
    col = xlogx(k11 + k12 + k21 + k22) - xlogx(k11 + k21) - xlogx(k12 + k22)
    mat = xlogx(k11 + k12 + k21 + k22) - (xlogx(k11) + xlogx(k12) + xlogx(k21) + xlogx(k22))
    llr = 2.0 * (row + col - mat)
    llr[row + col < mat] = 0.0
    root = np.sqrt(llr)
    with np.errstate(divide="ignore", invalid="ignore"):
        neg = (k11 / (k11 + k12)) < (k21 / (k21 + k22))
    return np.where(neg, -root, root)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("out")
    ap.add_argument("--format", default="retailrocket")
    ap.add_argument("--primary", default="transaction")
    ap.add_argument("--cap", type=int, default=500)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--min-llr", type=float, default=5.0)
    a = ap.parse_args()
    f = FORMATS[a.format]
    times = {}
    t = time.perf_counter()
    df = pd.read_csv(a.events, sep=f["sep"], header=f["header"], names=f["names"],
                     dtype=str, keep_default_na=False, compression="infer")
    ucol, icol, ecol, tcol = f["cols"]
    df = pd.DataFrame({
        "user": df[ucol].to_numpy(),
        "item": df[icol].to_numpy(),
        "event": df[ecol].map(lambda e: f["aliases"].get(e, e)).to_numpy()
        if f["aliases"] else df[ecol].to_numpy(),
        "ts": pd.to_numeric(df[tcol]).to_numpy(),
    })
    users, uidx = np.unique(df["user"].to_numpy(), return_inverse=True)
    items, iidx = np.unique(df["item"].to_numpy(), return_inverse=True)  # sorted: rank = id order
    df["u"] = uidx
    df["i"] = iidx
    n_users, n_items = len(users), len(items)
    times["read"] = time.perf_counter() - t

    t = time.perf_counter()
    counts = df["event"].value_counts()
    matrices = {}
    for event in counts.index:
        d = df[df["event"] == event]
        # latest timestamp per (user, item), then most recent `cap` per user, ties by item id
        d = d.sort_values(["u", "ts", "i"], ascending=[True, False, True], kind="stable")
        d = d.drop_duplicates(["u", "i"], keep="first")
        d = d[d.groupby("u").cumcount() < a.cap]
        matrices[event] = sp.csr_matrix(
            (np.ones(len(d), dtype=np.int32), (d["u"].to_numpy(), d["i"].to_numpy())),
            shape=(n_users, n_items))
    times["matrices"] = time.perf_counter() - t

    primary = a.primary
    secondaries = sorted(e for e in counts.index if e != primary)
    specs = [("indicators", primary, primary)]
    specs += [(f"indicators_{s}", primary, s) for s in secondaries]
    if secondaries:
        top = sorted(secondaries, key=lambda s: (-counts[s], s))[0]
        specs.append((f"similar_{top}", top, top))

    with open(a.out, "w") as out:
        for field, rows, cols in specs:
            t = time.perf_counter()
            R, C = matrices[rows], matrices[cols]
            co = (R.T @ C).tocoo()
            r, c, k11 = co.row, co.col, co.data.astype(np.float64)
            if rows == cols:
                keep = r != c
                r, c, k11 = r[keep], c[keep], k11[keep]
            row_n = np.asarray(R.sum(axis=0)).ravel().astype(np.float64)
            col_n = np.asarray(C.sum(axis=0)).ravel().astype(np.float64)
            k12 = row_n[r] - k11
            k21 = col_n[c] - k11
            k22 = n_users - row_n[r] - col_n[c] + k11
            score = root_llr(k11, k12, k21, k22)
            keep = score >= a.min_llr
            r, c, score = r[keep], c[keep], score[keep]
            order = np.lexsort((c, -score, r))  # by row, score desc, id asc
            r, c = r[order], c[order]
            starts = np.searchsorted(r, r, side="left")
            pos = np.arange(len(r)) - starts
            keep = pos < a.k
            r, c = r[keep], c[keep]
            times[field] = time.perf_counter() - t
            bounds = np.flatnonzero(np.diff(r)) + 1
            for rr, cc in zip(np.split(r, bounds), np.split(c, bounds)):
                if len(rr):
                    out.write(f"{field}\t{items[rr[0]]}\t{','.join(items[cc])}\n")
    json.dump(times, sys.stdout)


if __name__ == "__main__":
    main()
