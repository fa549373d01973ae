#!/usr/bin/env python3
"""Compare two assignment CSVs (building,grid,status,outside_share).

    python3 bench/compare_assign.py A.csv B.csv [--min-grid-agreement 0.995]

Rows are matched on `building` (outer join: a building missing from one file
counts as a disagreement).  Prints
  * the number of buildings in each file and in both,
  * the share of buildings with the same status,
  * the share with the same grid among buildings that either file calls
    in_one_grid (agreement = both in_one_grid with the same code),
  * the max |outside_share difference| among buildings both files call
    in_one_grid with the same grid,
and exits 1 if the grid agreement is below the threshold (99.5% by default),
2 on unreadable input.
"""
import argparse
import sys

import numpy as np
import pandas as pd

COLS = ["building", "grid", "status", "outside_share"]
STATUSES = ["in_one_grid", "in_no_grid", "in_many_grids"]


def load(path):
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as e:  # noqa: BLE001
        print(f"{path}: cannot read: {e}", file=sys.stderr)
        sys.exit(2)
    missing = [c for c in COLS if c not in df.columns]
    if missing:
        print(f"{path}: missing columns {missing} (has {list(df.columns)})", file=sys.stderr)
        sys.exit(2)
    df = df[COLS].copy()
    for c in ["building", "grid", "status"]:
        df[c] = df[c].str.strip()
    # gridmap marks buildings in one grid with more than 10% outside as `straddling`; they are
    # still in exactly one grid, which is what is compared here (the share is compared below).
    df.loc[df["status"] == "straddling", "status"] = "in_one_grid"
    df["outside_share"] = pd.to_numeric(df["outside_share"].str.strip(), errors="coerce")
    dups = df["building"].duplicated()
    if dups.any():
        print(f"{path}: WARNING {int(dups.sum())} duplicated building ids; keeping the first",
              file=sys.stderr)
        df = df[~dups]
    odd = ~df["status"].isin(STATUSES)
    if odd.any():
        print(f"{path}: WARNING {int(odd.sum())} rows with unknown status, e.g. "
              f"{df.loc[odd, 'status'].iloc[0]!r}", file=sys.stderr)
    return df


def pct(num, den):
    return 100.0 * num / den if den else 100.0


def main():
    ap = argparse.ArgumentParser(description="Compare two building->grid assignment CSVs.")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--min-grid-agreement", type=float, default=0.995,
                    help="fail (exit 1) below this fraction (default 0.995)")
    ap.add_argument("--show", type=int, default=5, help="print this many example disagreements")
    args = ap.parse_args()

    a, b = load(args.a), load(args.b)
    m = a.merge(b, on="building", how="outer", suffixes=("_a", "_b"), indicator=True)
    both = m["_merge"] == "both"
    n_a, n_b, n_both = len(a), len(b), int(both.sum())
    print(f"A: {args.a}\nB: {args.b}")
    print(f"buildings: A={n_a} B={n_b} in both={n_both} only A={int((m['_merge'] == 'left_only').sum())}"
          f" only B={int((m['_merge'] == 'right_only').sum())}")

    same_status = both & (m["status_a"] == m["status_b"])
    print(f"same status: {pct(same_status.sum(), len(m)):.4f}% ({int(same_status.sum())}/{len(m)})")
    ct = pd.crosstab(m["status_a"].fillna("(missing)"), m["status_b"].fillna("(missing)"),
                     rownames=["A \\ B"], colnames=[""])
    print(ct.to_string())

    one_a = m["status_a"] == "in_one_grid"
    one_b = m["status_b"] == "in_one_grid"
    either = one_a | one_b
    agree = one_a & one_b & (m["grid_a"] == m["grid_b"])
    frac = agree.sum() / either.sum() if either.sum() else 1.0
    print(f"same grid (among in_one_grid in either): {100 * frac:.4f}% "
          f"({int(agree.sum())}/{int(either.sum())})")

    d = (m.loc[agree, "outside_share_a"] - m.loc[agree, "outside_share_b"]).abs()
    nan_mismatch = int((m.loc[agree, "outside_share_a"].isna()
                        != m.loc[agree, "outside_share_b"].isna()).sum())
    if len(d) and d.notna().any():
        print(f"outside_share |A-B| (same grid): max={d.max():.3g} mean={d.mean():.3g} "
              f">1e-6: {int((d > 1e-6).sum())} >1e-3: {int((d > 1e-3).sum())}"
              + (f"  missing in one file: {nan_mismatch}" if nan_mismatch else ""))
        worst = d.idxmax()
    else:
        print("outside_share: no comparable rows")
        worst = None

    if args.show:
        bad = m[either & ~agree].head(args.show)
        if len(bad):
            print("examples of grid disagreements:")
            print(bad[["building", "status_a", "grid_a", "status_b", "grid_b"]].to_string(index=False))
        if worst is not None and d.max() > 1e-6:
            print("largest outside_share difference:")
            print(m.loc[[worst], ["building", "grid_a", "outside_share_a", "outside_share_b"]]
                  .to_string(index=False))

    if frac < args.min_grid_agreement:
        print(f"FAIL: grid agreement {100 * frac:.4f}% < {100 * args.min_grid_agreement:.2f}%")
        sys.exit(1)
    print(f"OK: grid agreement {100 * frac:.4f}% >= {100 * args.min_grid_agreement:.2f}%")


if __name__ == "__main__":
    main()
