#!/usr/bin/env python3
"""Jitter a clean synth town's shared edges, and repair it the Shapely way (the baseline of
bench/run_repair.sh).

    repair_baseline.py jitter GRIDS OUT.geojson [--share 0.05] [--max-m 0.8] [--seed 1]
    repair_baseline.py count ORIGINAL_GRIDS REPAIRED_GRIDS BUILDINGS
    repair_baseline.py repair GRIDS_JITTERED BOUNDARY BUILDINGS ORIGINAL_GRIDS OUT.json
        [--snap-m 1.0] [--max-gap-m2 100]

jitter: moves, in ONE of the grids that share it, each vertex of a `share` of the shared
edges by up to `max_m` metres (uniform direction), as hand-drawn grids arrive.

repair (Shapely >= 2.1, GEOS): make_valid every grid; snap each grid to the union of its
neighbours within snap_m (shapely.snap); cut overlaps by giving each to the grid met first
(difference with the union of the earlier neighbours); fill gaps smaller than max_gap_m2
with the neighbour of the longest shared edge; then locate every building (point on
surface) in the original and the repaired grids and count those whose grid changed. Prints
one JSON line: seconds (repair only), buildings_changed, overlaps_left_m2, gaps_left_m2.
"""

import json
import sys
import time

import numpy as np
import pyogrio
import shapely
from shapely import STRtree

M_PER_DEG_Y = 110_900.0


def metres_per_deg(lat):
    return M_PER_DEG_Y * np.cos(np.radians(lat)), M_PER_DEG_Y


def jitter(grids_path, out_path, share=0.05, max_m=0.8, seed=1):
    df = pyogrio.read_dataframe(grids_path)
    rng = np.random.default_rng(seed)
    geoms = list(df.geometry.values)
    lat = shapely.centroid(shapely.union_all(shapely.envelope(geoms))).y
    mx, my = metres_per_deg(lat)
    # Shared vertices: coordinates that occur in more than one grid.
    owners = {}
    for i, g in enumerate(geoms):
        for c in shapely.get_coordinates(g):
            owners.setdefault((c[0], c[1]), set()).add(i)
    shared = [k for k, v in owners.items() if len(v) > 1]
    pick = rng.random(len(shared)) < share
    moves = {}
    for k, p in zip(shared, pick):
        if p:
            who = sorted(owners[k])[rng.integers(len(owners[k]))]
            a = rng.random() * 2 * np.pi
            r = rng.random() * max_m
            moves[(who, k)] = (k[0] + r * np.cos(a) / mx, k[1] + r * np.sin(a) / my)
    out = []
    for i, g in enumerate(geoms):
        def move(c, i=i):
            return [moves.get((i, (x, y)), (x, y)) for x, y in c]
        polys = shapely.get_parts(g)
        new = []
        for p in polys:
            ext = move(p.exterior.coords)
            holes = [move(h.coords) for h in p.interiors]
            new.append(shapely.Polygon(ext, holes))
        out.append(shapely.MultiPolygon(new) if len(new) > 1 else new[0])
    df = df.set_geometry(out)
    pyogrio.write_dataframe(df, out_path)
    print(json.dumps({"shared_vertices": len(shared), "moved": len(moves)}))


def locate(grids, points):
    tree = STRtree(grids)
    pi, gi = tree.query(points, predicate="within")
    where = np.full(len(points), -1)
    many = np.zeros(len(points), dtype=bool)
    for p, g in zip(pi, gi):
        if where[p] >= 0:
            many[p] = True
        where[p] = g
    where[many] = -2
    return where


def repair(grids_path, boundary_path, buildings_path, original_path, out_path, snap_m=1.0,
           max_gap_m2=100.0):
    df = pyogrio.read_dataframe(grids_path)
    boundary = shapely.union_all(pyogrio.read_dataframe(boundary_path).geometry.values)
    original_df = pyogrio.read_dataframe(original_path)
    original = original_df.geometry.values
    # FlatGeobuf files are written in spatial order: compare grids by code, not position
    # (locate answers -1 for no grid, -2 for several).
    original_codes = np.append(original_df["code"].astype(str).values, ["<many>", "<none>"])
    codes = np.append(df["code"].astype(str).values, ["<many>", "<none>"])
    buildings = pyogrio.read_dataframe(buildings_path, columns=[]).geometry.values
    lat = shapely.centroid(boundary).y
    mx, my = metres_per_deg(lat)
    snap_deg = snap_m / my
    m2 = mx * my

    t0 = time.perf_counter()
    geoms = shapely.make_valid(df.geometry.values)
    tree = STRtree(geoms)
    # Snap each grid to its neighbours (their union's vertices and edges).
    snapped = []
    for i, g in enumerate(geoms):
        near = tree.query(shapely.buffer(g, snap_deg))
        near = [j for j in near if j != i]
        if near:
            g = shapely.snap(g, shapely.union_all(geoms[near]), snap_deg)
        snapped.append(shapely.make_valid(g))
    geoms = np.array(snapped, dtype=object)
    # Overlaps: the earlier grid keeps them.
    tree = STRtree(geoms)
    cut = []
    for i, g in enumerate(geoms):
        near = [j for j in tree.query(g, predicate="intersects") if j < i]
        if near:
            g = shapely.difference(g, shapely.union_all(geoms[near]))
        cut.append(g)
    geoms = np.array(cut, dtype=object)
    geoms = shapely.intersection(geoms, boundary)
    # Gaps below the threshold: to the neighbour of the longest shared edge.
    gaps = shapely.get_parts(shapely.difference(boundary, shapely.union_all(geoms)))
    tree = STRtree(geoms)
    geoms = list(geoms)
    left = 0.0
    for gap in gaps:
        area = shapely.area(gap) * m2
        if area > max_gap_m2:
            left += area
            continue
        best, best_len = None, 0.0
        for j in tree.query(gap, predicate="touches"):
            shared = shapely.length(shapely.intersection(shapely.boundary(gap), geoms[j]))
            if shared > best_len:
                best, best_len = j, shared
        if best is None:
            left += area
        else:
            geoms[best] = shapely.union(geoms[best], gap)
    seconds = time.perf_counter() - t0

    points = shapely.point_on_surface(buildings)
    before = original_codes[locate(original, points)]
    repaired = np.empty(len(geoms), dtype=object)
    repaired[:] = geoms
    after = codes[locate(repaired, points)]
    changed = int(np.sum(before != after))
    overlap = 0.0
    tree = STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    for i, j in zip(a, b):
        if i < j:
            overlap += shapely.area(shapely.intersection(geoms[i], geoms[j])) * m2
    result = {
        "seconds": round(seconds, 3),
        "buildings_changed": changed,
        "overlaps_left_m2": round(overlap, 1),
        "gaps_left_m2": round(left, 1),
    }
    with open(out_path, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


def count(original_path, repaired_path, buildings_path):
    """Buildings whose grid (by code; point on surface within) differs between two layers."""
    a, b = pyogrio.read_dataframe(original_path), pyogrio.read_dataframe(repaired_path)
    ca = np.append(a["code"].astype(str).values, ["<many>", "<none>"])
    cb = np.append(b["code"].astype(str).values, ["<many>", "<none>"])
    points = shapely.point_on_surface(
        pyogrio.read_dataframe(buildings_path, columns=[]).geometry.values)
    before = ca[locate(a.geometry.values, points)]
    after = cb[locate(b.geometry.values, points)]
    print(int(np.sum(before != after)))


def opt(args, name, default):
    if name in args:
        return type(default)(args[args.index(name) + 1])
    return default


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "jitter":
        jitter(a[1], a[2], opt(a, "--share", 0.05), opt(a, "--max-m", 0.8), opt(a, "--seed", 1))
    elif a and a[0] == "repair":
        repair(a[1], a[2], a[3], a[4], a[5], opt(a, "--snap-m", 1.0), opt(a, "--max-gap-m2", 100.0))
    elif a and a[0] == "count":
        count(a[1], a[2], a[3])
    else:
        sys.exit(__doc__)
