#!/usr/bin/env python3
"""Compare `gridmap partition` with METIS (pymetis) and PySAL spopt on the same inputs.

Every tool gets the same buildings (their `households` as workload), the same boundary and,
for the graph tools, the same building adjacency graph: the Voronoi cells of the buildings'
representative points clipped to the boundary, two buildings adjacent when their cells touch
along an edge (rook contiguity). Graph edges whose Delaunay segment crosses a barrier line
(road) weigh 1, the others 5, so METIS prefers to cut along roads as gridmap does.

METIS and spopt parts are drawn as the union of their buildings' cells; gridmap's grids are
read from its plan. All tools are measured the same way here: workload per part (buildings
located by their representative point), max |workload - target| / target with
target = total / K, Polsby-Popper 4*pi*A/P^2 in a UTM projection, the share of parts that
are one polygon, and tentacles by gridmap's rule (an opening of each part by a disc of radius
0.15 * sqrt(area) removes a piece holding at least 10% of it). Runtime is the tool's own wall time (gridmap: the whole CLI run, reading and
writing included; METIS/spopt: the solver plus drawing the parts; building the shared graph is
printed apart).

Usage:
    pip install -r bench/requirements-partition.txt
    cargo build --release -p gridmap-cli
    python3 bench/partition_compare.py --gridmap target/release/gridmap [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix

ROOT = Path(__file__).resolve().parent.parent


def load_case(name, boundary_path, buildings_path, barriers_path, k):
    boundary = gpd.read_file(boundary_path)
    buildings = gpd.read_file(buildings_path)
    barriers = gpd.read_file(barriers_path) if barriers_path else None
    crs = boundary.estimate_utm_crs()
    b_utm = boundary.to_crs(crs)
    area = shapely.union_all(b_utm.geometry.values)
    bu = buildings.to_crs(crs)
    pts = shapely.point_on_surface(bu.geometry.values)
    inside = shapely.contains(area, pts) | shapely.touches(area, pts)
    bu = bu[inside].reset_index(drop=True)
    pts = pts[inside]
    hh = bu["households"].fillna(0).astype(int).to_numpy()
    lines = None
    if barriers is not None:
        lines = barriers.to_crs(crs).geometry.values
        lines = lines[shapely.get_type_id(lines) >= 0]
    return dict(
        name=name,
        k=k,
        boundary_path=boundary_path,
        buildings_path=buildings_path,
        barriers_path=barriers_path,
        crs=crs,
        area=area,
        points=pts,
        households=hh,
        barriers=lines,
    )


def build_graph(case):
    """Voronoi cells clipped to the boundary and their rook adjacency (CSR)."""
    t0 = time.perf_counter()
    pts = case["points"]
    area = case["area"]
    # Jitter exact duplicates so every building gets a cell.
    xy = shapely.get_coordinates(pts)
    _, first = np.unique(xy, axis=0, return_index=True)
    dup = np.ones(len(xy), bool)
    dup[first] = False
    xy[dup] += np.random.default_rng(0).normal(0, 0.01, (dup.sum(), 2))
    pts = shapely.points(xy)
    regions = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=area)
    cells_raw = np.asarray(shapely.get_parts(regions))
    # Match cells to points (voronoi_polygons does not keep the input order).
    tree = shapely.STRtree(cells_raw)
    pi, ci = tree.query(pts, predicate="intersects")
    cell_of = np.full(len(pts), -1)
    for p, c in zip(pi, ci):
        if cell_of[p] < 0:
            cell_of[p] = c
    cells = shapely.intersection(cells_raw[cell_of], area)
    shapely.prepare(cells)
    # Rook adjacency: cells sharing a boundary segment of positive length.
    tree = shapely.STRtree(cells)
    a, b = tree.query(cells, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(cells[a]), shapely.boundary(cells[b])))
    keep = shared > 1e-6
    a, b = a[keep], b[keep]
    w = np.full(len(a), 5, dtype=np.int64)
    if case["barriers"] is not None and len(case["barriers"]):
        segs = shapely.linestrings(np.stack([xy[a], xy[b]], axis=1))
        btree = shapely.STRtree(case["barriers"])
        si, _ = btree.query(segs, predicate="intersects")
        w[np.unique(si)] = 1
    n = len(pts)
    m = coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    m.sort_indices()
    return dict(
        cells=cells,
        xadj=m.indptr.astype(np.int64),
        adjncy=m.indices.astype(np.int64),
        eweights=m.data.astype(np.int64),
        seconds=time.perf_counter() - t0,
        edges=len(a),
    )


def measure(case, parts_geoms, labels=None):
    """Max deviation %, PP mean/min, % contiguous; `labels` per building or None (locate)."""
    k = case["k"]
    hh = case["households"]
    total = hh.sum()
    target = total / k
    if labels is None:
        tree = shapely.STRtree(parts_geoms)
        pi, gi = tree.query(case["points"], predicate="intersects")
        labels = np.full(len(hh), -1)
        order = np.lexsort((gi, pi))
        for p, g in zip(pi[order], gi[order]):
            if labels[p] < 0:
                labels[p] = g
    loads = np.bincount(labels[labels >= 0], weights=hh[labels >= 0], minlength=len(parts_geoms))
    dev = np.abs(loads - target) / target * 100
    within = int((dev <= 5.0 + 1e-9).sum())
    areas = shapely.area(parts_geoms)
    perim = shapely.length(parts_geoms)
    pp = 4 * math.pi * areas / np.maximum(perim, 1e-9) ** 2
    parts = shapely.get_num_geometries(parts_geoms)
    contiguous = 100.0 * (parts == 1).sum() / len(parts_geoms)
    unassigned = int((labels < 0).sum())
    return dict(
        tentacles=sum(tentacles(g) for g in parts_geoms),
        grids=len(parts_geoms),
        max_dev=float(dev.max()),
        within=within,
        pp_mean=float(pp.mean()),
        pp_min=float(pp.min()),
        contiguous=float(contiguous),
        unassigned=unassigned,
    )


def tentacles(part):
    """Narrow arms of one part, by gridmap's rule (crates/partition/src/shape.rs): the pieces an
    opening by a disc of radius 0.15 * sqrt(area) removes that hold at least 10% of the area."""
    area = part.area
    if area <= 0:
        return 0
    rho = 0.15 * math.sqrt(area)
    opened = part.simplify(0.05 * rho).buffer(-rho).buffer(rho + 1e-3)
    rest = part.difference(opened)
    return sum(1 for g in getattr(rest, "geoms", [rest]) if g.area >= 0.10 * area)


def draw_parts(cells, labels, k):
    t0 = time.perf_counter()
    geoms = []
    for r in range(k):
        sel = cells[labels == r]
        geoms.append(shapely.union_all(sel, grid_size=None) if len(sel) else shapely.Polygon())
    geoms = np.array(geoms, dtype=object)
    # Drop slivers left by floating point so a part is counted as one polygon when it is.
    cleaned = []
    for g in geoms:
        ps = [p for p in shapely.get_parts(g) if p.area > 1e-3]
        cleaned.append(shapely.multipolygons(ps) if len(ps) > 1 else (ps[0] if ps else shapely.Polygon()))
    return np.array(cleaned, dtype=object), time.perf_counter() - t0


def run_gridmap(case, binary, out_dir):
    plan = out_dir / f"{case['name']}-gridmap.geojson"
    report = out_dir / f"{case['name']}-gridmap.json"
    cmd = [
        str(binary), "partition",
        "--boundary", str(case["boundary_path"]),
        "--buildings", str(case["buildings_path"]),
        "--grids", str(case["k"]),
        "--out", str(plan), "--report", str(report),
    ]
    if case["barriers_path"]:
        cmd += ["--barriers", str(case["barriers_path"])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"gridmap failed: {proc.stderr}")
    grids = gpd.read_file(plan).to_crs(case["crs"])
    m = measure(case, np.asarray(grids.geometry.values))
    r = json.load(open(report))["summary"]
    m.update(seconds=seconds, note=f"own report: max dev {r['max_deviation_pct']:.1f}% excl. heavy grids, "
             f"edges on barriers {r['boundary_on_barrier_m']:.0f} m / off {r['boundary_off_barrier_m']:.0f} m",
             command=" ".join(cmd))
    return m


def run_metis(case, graph):
    import pymetis

    t0 = time.perf_counter()
    opts = pymetis.Options(seed=1, contig=1, ufactor=30)
    try:
        _, parts = pymetis.part_graph(
            case["k"], xadj=graph["xadj"], adjncy=graph["adjncy"],
            vweights=case["households"].astype(np.int64), eweights=graph["eweights"], options=opts,
        )
        note = "contig=1, ufactor=30"
    except Exception as e:  # a disconnected graph refuses contig
        opts = pymetis.Options(seed=1, ufactor=30)
        _, parts = pymetis.part_graph(
            case["k"], xadj=graph["xadj"], adjncy=graph["adjncy"],
            vweights=case["households"].astype(np.int64), eweights=graph["eweights"], options=opts,
        )
        note = f"ufactor=30 (contig refused: {e})"
    solve = time.perf_counter() - t0
    labels = np.asarray(parts)
    geoms, draw = draw_parts(graph["cells"], labels, case["k"])
    m = measure(case, geoms, labels)
    m.update(seconds=solve + draw, note=f"{note}; solve {solve:.2f} s + draw {draw:.2f} s")
    return m


def _spopt_worker(kind, case, graph, queue):
    import libpysal
    import pandas as pd
    from spopt.region import MaxPHeuristic, RegionKMeansHeuristic, Skater

    t0 = time.perf_counter()
    n = len(case["households"])
    neighbors = {i: graph["adjncy"][graph["xadj"][i]:graph["xadj"][i + 1]].tolist() for i in range(n)}
    w = libpysal.weights.W(neighbors, silence_warnings=True)
    xy = shapely.get_coordinates(case["points"])
    gdf = gpd.GeoDataFrame(
        pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "households": case["households"]}),
        geometry=graph["cells"], crs=case["crs"],
    )
    k = case["k"]
    if kind == "region-k-means":
        model = RegionKMeansHeuristic(xy, k, w)
        model.solve()
        labels = np.asarray(model.labels_)
        note = "attributes x, y"
    elif kind == "skater":
        floor = max(1, int(0.5 * n / k))
        model = Skater(gdf, w, ["x", "y"], n_clusters=k, floor=floor, trace=False, islands="increase")
        model.solve()
        labels = np.asarray(model.labels_)
        note = f"attributes x, y; floor {floor} buildings"
    else:  # max-p with a household floor of 95% of the target
        threshold = 0.95 * case["households"].sum() / k
        model = MaxPHeuristic(gdf, w, ["x", "y"], "households", threshold, top_n=2, max_iterations_construction=20)
        model.solve()
        labels = np.asarray(model.labels_)
        note = f"threshold {threshold:.0f} households; p = {len(set(labels.tolist()) - {-1, 0}) or len(set(labels.tolist()))}"
    solve = time.perf_counter() - t0
    # Relabel to 0..p-1
    uniq, labels = np.unique(labels, return_inverse=True)
    queue.put((labels, solve, note, len(uniq)))


def run_spopt(kind, case, graph, timeout):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_spopt_worker, args=(kind, case, graph, q))
    p.start()
    try:
        labels, solve, note, p_regions = q.get(timeout=timeout)
    except Exception:
        p.kill()
        p.join()
        return dict(grids=case["k"], skipped=f"no result within {timeout} s")
    p.join()
    c = dict(case)
    c["k"] = p_regions
    geoms, draw = draw_parts(graph["cells"], labels, p_regions)
    m = measure(c, geoms, labels)
    m.update(seconds=solve + draw, note=f"{note}; solve {solve:.2f} s + draw {draw:.2f} s")
    return m


def table(rows):
    head = f"| {'input':<26} | {'tool':<22} | {'grids':>5} | {'max dev %':>9} | {'≤5%':>7} | {'PP mean':>7} | {'PP min':>6} | {'contig %':>8} | {'tentacles':>9} | {'runtime s':>9} |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for inp, tool, m in rows:
        if "skipped" in m:
            print(f"| {inp:<26} | {tool:<22} | {m['grids']:>5} | {'—':>9} | {'—':>7} | {'—':>7} | {'—':>6} | {'—':>8} | {'—':>9} | {'—':>9} | {m['skipped']}")
            continue
        print(
            f"| {inp:<26} | {tool:<22} | {m['grids']:>5} | {m['max_dev']:>9.1f} | {m['within']:>3}/{m['grids']:<3} | "
            f"{m['pp_mean']:>7.3f} | {m['pp_min']:>6.3f} | {m['contiguous']:>8.1f} | {m['tentacles']:>9} | {m['seconds']:>9.2f} |"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gridmap", default=str(ROOT / "target/release/gridmap"), help="the release binary")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000], help="synthetic towns")
    ap.add_argument("--buildings-per-grid", type=int, default=400, help="K for synthetic towns = N / this")
    ap.add_argument("--demo-grids", type=int, default=8)
    ap.add_argument("--spopt-max", type=int, default=20000, help="skip spopt above this many buildings")
    ap.add_argument("--maxp-max", type=int, default=2000, help="run max-p only up to this many buildings")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per spopt run")
    ap.add_argument("--work", default=None, help="directory for inputs and plans (default: temporary)")
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="partition-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = [load_case(
        "demo", ROOT / "data/demo/town.geojson", ROOT / "data/demo/buildings.geojson",
        ROOT / "data/demo/raw/roads.geojson", args.demo_grids,
    )]
    for n in args.sizes:
        d = work / f"synth-{n}"
        subprocess.run([args.gridmap, "synth", "--buildings", str(n), "--grids", "1", "--format", "geojson",
                        "--out-dir", str(d)], check=True, capture_output=True)
        cases.append(load_case(f"synth-{n}", d / "boundary.geojson", d / "buildings.geojson", None,
                               max(1, round(n / args.buildings_per_grid))))

    rows = []
    notes = []
    for case in cases:
        label = f"{case['name']} ({len(case['households'])} b.)"
        print(f"== {label}, K = {case['k']}", file=sys.stderr, flush=True)
        m = run_gridmap(case, args.gridmap, work)
        rows.append((label, "gridmap partition", m))
        notes.append(f"{label} gridmap: {m['note']}")
        notes.append(f"{label} command: {m['command']}")
        graph = build_graph(case)
        notes.append(f"{label} graph: {len(graph['cells'])} cells, {graph['edges']} edges, built in {graph['seconds']:.1f} s")
        m = run_metis(case, graph)
        rows.append((label, "METIS (pymetis)", m))
        notes.append(f"{label} METIS: {m['note']}")
        n = len(case["households"])
        kinds = []
        if n <= args.spopt_max:
            kinds += ["region-k-means", "skater"]
        if n <= args.maxp_max:
            kinds.append("max-p")
        for kind in kinds:
            print(f"   spopt {kind}", file=sys.stderr, flush=True)
            m = run_spopt(kind, case, graph, args.timeout)
            rows.append((label, f"spopt {kind}", m))
            if "note" in m:
                notes.append(f"{label} spopt {kind}: {m['note']}")
        if n > args.spopt_max:
            rows.append((label, "spopt", dict(grids=case["k"], skipped=f"not run above {args.spopt_max} buildings")))
    print()
    table(rows)
    print()
    for n in notes:
        print("-", n)


if __name__ == "__main__":
    main()
