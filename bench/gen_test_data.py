#!/usr/bin/env python3
"""Generate synthetic grids.fgb / buildings.fgb with GeoPandas.

This is a test-data generator for the Python side of the benchmark only (to
exercise assign_geopandas.py / compare_assign.py without the Rust binary).
The benchmark proper uses `gridmap synth`.

  python3 bench/gen_test_data.py --grids 10000 --buildings 1000000 --seed 1 \
      --out-dir /tmp/bench1m

Grids: a sqrt(N) x sqrt(N) lattice over ~SIZE_KM x SIZE_KM near 121E 31N whose
interior vertices are perturbed (shared, so the cells tile the plane), with a
few oddities so every status occurs:
  * ~0.5% of cells grown by a few metres (overlaps -> in_many_grids),
  * ~0.5% of cells shrunk by a few metres (gaps -> in_no_grid),
  * ~0.5% of cells split in two by a thin "road" (MultiPolygon grids).
Buildings: random rotated rectangles 8-30 m, scattered over the lattice plus a
2% margin outside it (-> in_no_grid); 1% with a courtyard (hole), 1%
MultiPolygon (main block + annex).
"""
import argparse
import math
import os
import time

import geopandas as gpd
import numpy as np
import shapely

LON0, LAT0 = 121.0, 31.0
M_PER_DEG_LAT = 110_900.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))


def rect_coords(cx, cy, w, h, ang):
    """(n,5,2) lon/lat coords of rotated rectangles; w,h in metres."""
    hw, hh = w / 2, h / 2
    local = np.stack(
        [np.stack([-hw, -hh], 1), np.stack([hw, -hh], 1), np.stack([hw, hh], 1),
         np.stack([-hw, hh], 1), np.stack([-hw, -hh], 1)], 1)  # (n,5,2)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    x = local[..., 0] * c - local[..., 1] * s
    y = local[..., 0] * s + local[..., 1] * c
    return np.stack([cx[:, None] + x / M_PER_DEG_LON, cy[:, None] + y / M_PER_DEG_LAT], -1)


def make_grids(n_grids, size_km, perturb, rng):
    side = int(round(math.sqrt(n_grids)))
    assert side * side == n_grids, "--grids must be a perfect square"
    cell_m = size_km * 1000.0 / side
    xs = np.arange(side + 1) * cell_m
    gx, gy = np.meshgrid(xs, xs, indexing="ij")  # (side+1, side+1) metres
    if perturb > 0:
        jx = rng.uniform(-perturb, perturb, gx.shape) * cell_m
        jy = rng.uniform(-perturb, perturb, gy.shape) * cell_m
        jx[0, :] = jx[-1, :] = 0
        jy[:, 0] = jy[:, -1] = 0
        gx, gy = gx + jx, gy + jy
    lon = LON0 + gx / M_PER_DEG_LON
    lat = LAT0 + gy / M_PER_DEG_LAT
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1), (i, j)]
    coords = np.stack([np.stack([lon[a, b], lat[a, b]], -1) for a, b in corners], 1)
    geoms = shapely.polygons(coords)
    codes = np.array([f"G{a:03d}{b:03d}" for a, b in zip(i, j)], dtype=object)
    if perturb > 0:
        n = len(geoms)
        pick = rng.permutation(n)
        k = max(1, n // 200)
        grow, shrink, split = pick[:k], pick[k:2 * k], pick[2 * k:3 * k]
        d = 5.0 / M_PER_DEG_LAT  # ~5 m (in degrees, slightly anisotropic: fine)
        geoms[grow] = shapely.buffer(geoms[grow], d, join_style="mitre")
        geoms[shrink] = shapely.buffer(geoms[shrink], -d, join_style="mitre")
        # split: cut each cell by a 6 m wide road through its centroid
        cen = shapely.centroid(geoms[split])
        cx, cy = shapely.get_x(cen), shapely.get_y(cen)
        road = shapely.polygons(rect_coords(cx, cy, np.full(len(split), 4 * cell_m),
                                            np.full(len(split), 6.0),
                                            rng.uniform(0, math.pi, len(split))))
        geoms[split] = shapely.difference(geoms[split], road)
    return gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs="EPSG:4326"), side * cell_m


def make_buildings(n, extent_m, rng):
    margin = 0.02 * extent_m
    xm = rng.uniform(-margin, extent_m + margin, n)
    ym = rng.uniform(-margin, extent_m + margin, n)
    cx = LON0 + xm / M_PER_DEG_LON
    cy = LAT0 + ym / M_PER_DEG_LAT
    w = rng.uniform(8, 30, n)
    h = rng.uniform(8, 30, n)
    ang = rng.uniform(0, math.pi, n)
    geoms = shapely.polygons(rect_coords(cx, cy, w, h, ang))
    kind = rng.random(n)
    court = np.flatnonzero(kind < 0.01)
    multi = np.flatnonzero((kind >= 0.01) & (kind < 0.02))
    if len(court):
        shell = shapely.linearrings(rect_coords(cx[court], cy[court], w[court], h[court], ang[court]))
        hole = shapely.linearrings(rect_coords(cx[court], cy[court], w[court] * 0.5,
                                               h[court] * 0.5, ang[court])[:, ::-1])
        geoms[court] = [shapely.Polygon(s, [hh]) for s, hh in zip(shell, hole)]
    if len(multi):
        # annex 4-8 m square placed beyond the main block's +x side
        off = w[multi] / 2 + 6
        ax = cx[multi] + off * np.cos(ang[multi]) / M_PER_DEG_LON
        ay = cy[multi] + off * np.sin(ang[multi]) / M_PER_DEG_LAT
        a = rng.uniform(4, 8, len(multi))
        annex = shapely.polygons(rect_coords(ax, ay, a, a, ang[multi]))
        geoms[multi] = [shapely.MultiPolygon([p, q]) for p, q in zip(geoms[multi], annex)]
    ids = np.char.add("B", np.char.zfill(np.arange(n).astype(str), 7)).astype(object)
    order = rng.permutation(n)  # file order unrelated to space
    return gpd.GeoDataFrame({"id": ids[order]}, geometry=geoms[order], crs="EPSG:4326")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grids", type=int, default=10_000)
    ap.add_argument("--buildings", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size-km", type=float, default=30.0)
    ap.add_argument("--perturb", type=float, default=0.2,
                    help="vertex jitter as a fraction of cell size; 0 = plain squares, no oddities")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    t = time.perf_counter()
    grids, extent = make_grids(a.grids, a.size_km, a.perturb, rng)
    b = make_buildings(a.buildings, extent, rng)
    print(f"generated in {time.perf_counter() - t:.1f}s", flush=True)
    t = time.perf_counter()
    grids.to_file(os.path.join(a.out_dir, "grids.fgb"), driver="FlatGeobuf", engine="pyogrio",
                  promote_to_multi=False)
    b.to_file(os.path.join(a.out_dir, "buildings.fgb"), driver="FlatGeobuf", engine="pyogrio",
                  promote_to_multi=False)
    print(f"written in {time.perf_counter() - t:.1f}s: {len(grids)} grids, {len(b)} buildings",
          flush=True)


if __name__ == "__main__":
    main()
