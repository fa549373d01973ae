#!/usr/bin/env python3
"""Build the gridmap demo dataset (外滩陆家嘴演示镇) from real OpenStreetMap data.

Run from the repository root:

    pip install shapely pyproj
    python3 data/build_demo.py [RAW_DIR]

RAW_DIR defaults to ../shared/data/shanghai-bund-lujiazui (relative to the repo root) and
falls back to data/demo/raw (the copy shipped in the repo).  Everything under data/demo/ and
data/README.md is regenerated deterministically.

Map data © OpenStreetMap contributors, ODbL 1.0.  The derived database stays under the ODbL.
Town / community / grid names and codes, floors (partly), households and the district part of
address texts are SYNTHETIC.
"""
import argparse
import json
import math
import os
import random
import shutil
from collections import defaultdict

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box, shape
from shapely.geometry.polygon import orient
from shapely.ops import polygonize, split
from shapely.strtree import STRtree

GRID = 1e-7  # coordinate precision (degrees) of everything we construct (~1 cm)

TOWN_CODE = "310101001"
TOWN_NAME = "外滩陆家嘴演示镇"

# Study-area rectangle = the exact extent of the z16 tiles the raw data came from (the raw
# roads, water and landuse are cut exactly here; buildings stick out a little).
STUDY_BBOX = (121.48132324, 31.22689447, 121.51977539, 31.25037815)

# Water polygons cut out of the town (by name).
RIVER_NAMES = ("黄浦江", "苏州河")

# Local metric approximation (only used to *construct* defects; all reported areas and
# distances are computed with pyproj in UTM 51N).
LAT0 = 31.2386
M_PER_DEG_LAT = 111132.954 - 559.822 * math.cos(math.radians(2 * LAT0)) + 1.175 * math.cos(math.radians(4 * LAT0))
M_PER_DEG_LON = 111412.84 * math.cos(math.radians(LAT0)) - 93.5 * math.cos(math.radians(3 * LAT0))

NON_RESIDENTIAL = {
    "commercial", "office", "hotel", "retail", "industrial", "church", "bank", "attraction",
    "tower", "transportation", "place_of_worship", "communications_tower", "construction",
    "mall", "shop", "embassy", "arts_centre", "shed", "school", "warehouse", "public",
    "civic", "government", "hospital", "university", "kindergarten", "garage", "garages",
    "parking", "service", "temple", "train_station", "stadium", "sports_centre",
}
RESIDENTIAL_NAME_HINTS = ("公寓", "住宅", "小区", "弄", "里", "苑", "村", "坊", "新村")

# ---------------------------------------------------------------------------------------------
# communities: (suffix, name, which land part, rule).  The rules pick, for every road block,
# the community by the side of a few real major roads its representative point lies on.  The
# polylines below trace 延安东路, 浦东南路 and 世纪大道 (extended past the study area); the
# blocks themselves are bounded by the real road centre lines, so the community borders run
# along real roads.
YANAN = [(121.470, 31.2331), (121.4813, 31.2331), (121.4828, 31.2330), (121.4857, 31.2342),
         (121.4875, 31.2352), (121.5100, 31.2460), (121.5400, 31.2460)]
PUDONGNAN = [(121.4960, 31.2700), (121.5014, 31.2457), (121.5032, 31.2447), (121.5041, 31.2435),
             (121.5059, 31.2404), (121.5094, 31.2353), (121.5112, 31.2312), (121.5128, 31.2270),
             (121.5150, 31.2000)]
DONGCHANG_CENTURY = [(121.4750, 31.2300), (121.4992, 31.23205), (121.5090, 31.2353), (121.5198, 31.2323),
                     (121.5450, 31.2280)]  # 东昌路, then 世纪大道 east of 浦东南路
# Straight cuts added to the road network where a community border has to reach the river
# across a riverside strip that no road crosses: (anchor lon, anchor lat, bearing°, length m).
# The anchor is the end of a real road (延安东路 at 中山东一路, the north end of 浦东南路, the
# west end of 东昌路); the cut starts 5 m behind it so that it is noded with the road.
EXTRA_CUTS = [
    (121.48753914, 31.23509621, 62.0, 150.0),
    (121.50146999, 31.24569452, 345.0, 150.0),
    (121.49934916, 31.23193130, 225.0, 150.0),
]

COMMUNITIES = [
    # code suffix, name, share of grids is computed from buildings and area
    ("001", "北外滩社区"),
    ("002", "外滩社区"),
    ("003", "南外滩社区"),
    ("004", "陆家嘴社区"),
    ("005", "梅园社区"),
    ("006", "东昌社区"),
]
N_GRIDS_TARGET = 30


# ---------------------------------------------------------------------------------------------
# small helpers

def snap(g):
    return shapely.set_precision(g, GRID)


def rnd(x):
    return round(x, 7)


def to_m(x, y):
    return ((x - 121.5) * M_PER_DEG_LON, (y - LAT0) * M_PER_DEG_LAT)


def from_m(x, y):
    return (x / M_PER_DEG_LON + 121.5, y / M_PER_DEG_LAT + LAT0)


def snap_pt(x, y):
    return (round(x / GRID) * GRID, round(y / GRID) * GRID)


_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)


def utm(g):
    return shapely.transform(g, lambda c: np.column_stack(_UTM.transform(c[:, 0], c[:, 1])))


def area_m2(g):
    if g.is_empty:
        return 0.0
    return utm(g).area


def dist_m(a, b):
    return utm(a).distance(utm(b))


def polys_of(g):
    if g.is_empty:
        return []
    if g.geom_type == "Polygon":
        return [g]
    if g.geom_type == "MultiPolygon":
        return list(g.geoms)
    if g.geom_type == "GeometryCollection":
        out = []
        for x in g.geoms:
            out.extend(polys_of(x))
        return out
    return []


def geom_json(g, ndigits=7):
    """GeoJSON geometry dict with coordinates rounded; polygons oriented RFC 7946 (CCW outer)."""
    if g.geom_type == "Polygon":
        g = orient(g, 1.0)
        rd = (lambda v: v) if ndigits is None else (lambda v: round(v, ndigits))
        return {"type": "Polygon", "coordinates": [[[rd(x), rd(y)] for x, y in r.coords]
                                                     for r in [g.exterior, *g.interiors]]}
    if g.geom_type == "MultiPolygon":
        return {"type": "MultiPolygon",
                "coordinates": [geom_json(p, ndigits)["coordinates"] for p in g.geoms]}
    if g.geom_type == "Point":
        return {"type": "Point", "coordinates": [round(g.x, ndigits), round(g.y, ndigits)]}
    raise ValueError(g.geom_type)


def write_fc(path, features, extra=None):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection",')
        if extra:
            for k, v in extra.items():
                fh.write(json.dumps(k, ensure_ascii=False) + ":" + json.dumps(v, ensure_ascii=False) + ",")
        fh.write('"features":[\n')
        fh.write(",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features))
        fh.write("\n]}\n")


def feature(props, geom):
    return {"type": "Feature", "properties": props, "geometry": geom}


def load_fc(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["features"]


def side_polygon(coords, probe):
    """Half of a big box, cut by the polyline, that contains probe."""
    big = box(121.475, 31.21, 121.530, 31.26)
    parts = list(split(big, LineString(coords)).geoms)
    assert len(parts) == 2, "dividing line must cross the whole box"
    return [p for p in parts if p.contains(Point(probe))][0]


class UnionFind:
    def __init__(self, n):
        self.p = list(range(n))

    def find(self, i):
        while self.p[i] != i:
            self.p[i] = self.p[self.p[i]]
            i = self.p[i]
        return i

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a != b:
            self.p[max(a, b)] = min(a, b)


# ---------------------------------------------------------------------------------------------
# 1. inputs

def load_buildings(raw):
    """Real OSM buildings (kind == building), with synthetic floors and households."""
    rng = random.Random(42)
    out, seen = [], set()
    for f in load_fc(os.path.join(raw, "buildings.geojson")):
        p = f["properties"]
        if p.get("kind") != "building":
            continue
        osm_id = p["osm_id"]
        # Tilezen gives OSM relations negative ids: "osm-r<id>" for those, "osm-<id>" for ways.
        bid = f"osm-{osm_id}" if osm_id >= 0 else f"osm-r{-osm_id}"
        if bid in seen:
            k = 2
            while f"{bid}-{k}" in seen:
                k += 1
            bid = f"{bid}-{k}"
        seen.add(bid)
        geom = shape(f["geometry"])
        h = p.get("height")
        if h is None:
            floors, floors_from = 6, "default"
        else:
            floors, floors_from = max(1, int(math.floor(float(h) / 3.0 + 0.5))), "height"
        kd = p.get("kind_detail")
        name = p.get("name")
        residential = kd not in NON_RESIDENTIAL
        if residential and kd is None and name and not any(t in name for t in RESIDENTIAL_NAME_HINTS):
            residential = False  # a named generic building: a landmark / office, not housing
        households = floors * rng.randint(2, 6) if residential else 0
        out.append({
            "id": bid, "osm_id": osm_id, "geom": geom, "raw_geometry": f["geometry"],
            "props": {
                "id": bid, "name": name, "kind": kd or "building", "floors": floors,
                "floors_from": floors_from, "households": households,
                "addr_street": p.get("addr_street"), "addr_housenumber": p.get("addr_housenumber"),
                "synthetic": True,
            },
            "loc": geom.point_on_surface(),
        })
    return out


def build_town(raw):
    water = load_fc(os.path.join(raw, "water.geojson"))
    river = shapely.union_all([shape(f["geometry"]) for f in water
                               if f["properties"].get("name") in RIVER_NAMES])
    return snap(box(*STUDY_BBOX).difference(river)), river


def cut_lines(town, buildings):
    """The EXTRA_CUTS as lines; each uses the bearing nearest the nominal one (±45°) that does
    not touch any building (a cut through a building would be merged away again)."""
    tree = STRtree([b["geom"] for b in buildings])
    out = []
    for lon, lat, bearing, length in EXTRA_CUTS:
        x, y = to_m(lon, lat)
        for delta in sorted(range(-45, 46), key=lambda d: (abs(d), d)):
            a = math.radians(bearing + delta)
            dx, dy = math.sin(a), math.cos(a)
            line = LineString([from_m(x - 5 * dx, y - 5 * dy), from_m(x + length * dx, y + length * dy)])
            if len(tree.query(line.intersection(town).buffer(2e-5), predicate="intersects")) == 0:
                out.append(line)
                break
        else:
            raise SystemExit(f"no building-free cut near {lon},{lat}")
    return out


def road_faces(raw, town, buildings):
    """Polygonize (major + minor roads, no tunnels, + cuts) ∪ town boundary: the finest blocks."""
    lines = []
    for f in load_fc(os.path.join(raw, "roads.geojson")):
        p = f["properties"]
        if p["kind"] not in ("major_road", "minor_road") or p.get("is_tunnel"):
            continue
        lines.append(shape(f["geometry"]))
    lines.extend(cut_lines(town, buildings))
    net = snap(shapely.union_all(lines).intersection(town))
    noded = shapely.union_all([net, town.boundary], grid_size=GRID)
    faces = [g for g in polygonize(list(noded.geoms))
             if g.area > 0 and town.contains(g.point_on_surface())]
    return faces


# ---------------------------------------------------------------------------------------------
# 2. blocks, communities, grids

def merge_faces_under_buildings(faces, buildings):
    """Union-find faces that share a building (>1% of its footprint on each side), so that no
    grid edge runs through a building by accident."""
    tree = STRtree(faces)
    uf = UnionFind(len(faces))
    for b in buildings:
        g = b["geom"]
        hits = []
        for i in tree.query(g, predicate="intersects"):
            a = faces[i].intersection(g).area
            if a > 0.01 * g.area:
                hits.append(i)
        for i in hits[1:]:
            uf.union(hits[0], i)
    groups = defaultdict(list)
    for i in range(len(faces)):
        groups[uf.find(i)].append(i)
    blocks = []
    for root in sorted(groups):
        blocks.append(shapely.union_all([faces[i] for i in groups[root]], grid_size=GRID))
    return blocks


def community_of_points(town):
    parts = sorted(polys_of(town), key=lambda g: g.bounds[0])
    north_of_yanan = side_polygon(YANAN, (121.48, 31.24))
    west_of_pdn = side_polygon(PUDONGNAN, (121.49, 31.23))
    south_line = side_polygon(DONGCHANG_CENTURY, (121.50, 31.22))
    pudong = max(parts, key=lambda g: g.bounds[0])
    puxi_north = max([g for g in parts if g is not pudong], key=lambda g: g.bounds[1])

    def which(pt):
        if pudong.contains(pt):
            if south_line.contains(pt):
                return "006"
            return "004" if west_of_pdn.contains(pt) else "005"
        if puxi_north.contains(pt):
            return "001"
        return "002" if north_of_yanan.contains(pt) else "003"
    return which


def adjacency(polys, min_len=1e-6):
    """Pairs of polygons sharing a boundary piece longer than min_len degrees (~0.1 m)."""
    tree = STRtree(polys)
    adj = defaultdict(dict)
    for i, g in enumerate(polys):
        for j in tree.query(g, predicate="intersects"):
            if j <= i:
                continue
            s = g.boundary.intersection(polys[j].boundary)
            if s.length > min_len:
                adj[i][j] = s.length
                adj[j][i] = s.length
    return adj


def centroid_m(g):
    c = g.centroid
    return to_m(c.x, c.y)


def partition_community(blocks, counts, k):
    """Grow k contiguous grids of comparable weight from farthest-point seeds, then rebalance by
    moving boundary blocks.  Returns a list of lists of block indices."""
    n = len(blocks)
    if k >= n:
        return [[i] for i in range(n)]
    adj = adjacency(blocks)
    areas = [b.area for b in blocks]
    tot_a, tot_c = sum(areas), max(1, sum(counts))
    w = [counts[i] + 0.25 * tot_c * areas[i] / tot_a for i in range(n)]
    cm = [centroid_m(b) for b in blocks]

    def d(i, j):
        return math.hypot(cm[i][0] - cm[j][0], cm[i][1] - cm[j][1])

    # farthest point seeds (weighted blocks only, start from the block farthest from the mean)
    mx = sum(c[0] * w[i] for i, c in enumerate(cm)) / sum(w)
    my = sum(c[1] * w[i] for i, c in enumerate(cm)) / sum(w)
    cand = [i for i in range(n) if counts[i] > 0] or list(range(n))
    seeds = [max(cand, key=lambda i: (math.hypot(cm[i][0] - mx, cm[i][1] - my), -i))]
    while len(seeds) < k:
        seeds.append(max((i for i in cand if i not in seeds), key=lambda i: (min(d(i, s) for s in seeds), -i)))
    owner = [-1] * n
    for g, s in enumerate(seeds):
        owner[s] = g
    weight = [w[s] for s in seeds]
    centre = [cm[s] for s in seeds]
    members = [[s] for s in seeds]
    while -1 in owner:
        progressed = False
        for g in sorted(range(k), key=lambda g: (weight[g], g)):
            front = sorted({j for i in members[g] for j in adj[i] if owner[j] == -1})
            if not front:
                continue
            j = min(front, key=lambda j: (math.hypot(cm[j][0] - centre[g][0], cm[j][1] - centre[g][1]), j))
            owner[j] = g
            members[g].append(j)
            weight[g] += w[j]
            progressed = True
            break
        if not progressed:  # isolated pieces (should not happen): give to nearest grid
            j = owner.index(-1)
            g = min(range(k), key=lambda g: d(j, seeds[g]))
            owner[j] = g
            members[g].append(j)
            weight[g] += w[j]

    def is_single_polygon(idx):
        if not idx:
            return False
        u = shapely.union_all([blocks[i] for i in idx], grid_size=GRID)
        return u.geom_type == "Polygon" and len(u.interiors) == 0

    # rebalance: move a boundary block from a heavier grid to a lighter neighbour grid while
    # that strictly improves the balance and keeps both grids single hole-free polygons
    for _ in range(1000):
        moved = False
        for g in sorted(range(k), key=lambda g: (-weight[g], g)):
            cands = []
            for i in sorted(members[g]):
                for j in adj[i]:
                    h = owner[j]
                    if h == g:
                        continue
                    gain = abs(weight[g] - weight[h]) - abs((weight[g] - w[i]) - (weight[h] + w[i]))
                    if gain > 1e-9:
                        cands.append((-gain, i, h))
            for _, i, h in sorted(set(cands)):
                rest = [x for x in members[g] if x != i]
                if not is_single_polygon(rest) or not is_single_polygon(members[h] + [i]):
                    continue
                members[g] = rest
                members[h].append(i)
                owner[i] = h
                weight[g] -= w[i]
                weight[h] += w[i]
                moved = True
                break
            if moved:
                break
        if not moved:
            break
    return [sorted(m) for m in members]


def assign_communities(blocks, town):
    """Community suffix of every block; stray pieces are handed to the neighbour community
    they share most boundary with, so that every community is one polygon."""
    which = community_of_points(town)
    comm = [which(b.point_on_surface()) for b in blocks]
    adj = adjacency(blocks)
    for _ in range(50):
        changed = False
        for c in sorted(set(comm)):
            idx = [i for i in range(len(blocks)) if comm[i] == c]
            u = shapely.union_all([blocks[i] for i in idx], grid_size=GRID)
            parts = polys_of(u)
            if len(parts) <= 1:
                continue
            main = max(parts, key=lambda p: p.area)
            for i in idx:
                if not main.contains(blocks[i].point_on_surface()):
                    shared = defaultdict(float)
                    for j, ln in adj[i].items():
                        if comm[j] != c:
                            shared[comm[j]] += ln
                    if shared:
                        comm[i] = max(sorted(shared), key=lambda k: shared[k])
                        changed = True
        if not changed:
            break
    return comm


def absorb_thin_blocks(blocks, counts, max_width_m=12.0):
    """Road medians and other thin strips (mean width < max_width_m) are merged into the
    neighbouring block they share most boundary with, so grids do not grow long thin arms."""
    n = len(blocks)
    adj = adjacency(blocks)

    def width(g):
        gm = shapely.transform(g, lambda c: np.column_stack(to_m(c[:, 0], c[:, 1])))
        return 2 * gm.area / gm.length

    thin = [width(b) < max_width_m and counts[i] == 0 for i, b in enumerate(blocks)]
    uf = UnionFind(n)
    for i in sorted(range(n), key=lambda i: blocks[i].area):
        if not thin[i] or not adj[i]:
            continue
        nbrs = sorted(adj[i].items(), key=lambda kv: (thin[kv[0]], -kv[1], kv[0]))
        uf.union(i, nbrs[0][0])
    groups = defaultdict(list)
    for i in range(n):
        groups[uf.find(i)].append(i)
    out_b, out_c = [], []
    for root in sorted(groups):
        out_b.append(shapely.union_all([blocks[i] for i in groups[root]], grid_size=GRID))
        out_c.append(sum(counts[i] for i in groups[root]))
    return out_b, out_c


def build_tiling(raw, town, buildings):
    """Town (as the exact union of the road faces), communities and grids (undefected)."""
    intown = [b for b in buildings if town.contains(b["loc"])]
    faces = road_faces(raw, town, buildings)
    town_exact = shapely.union_all(faces, grid_size=GRID)
    blocks = merge_faces_under_buildings(faces, intown)
    comm = assign_communities(blocks, town_exact)
    tree = STRtree(blocks)
    cnt = [0] * len(blocks)
    for b in intown:
        for i in tree.query(b["loc"], predicate="within"):
            cnt[i] += 1
    tot_b, tot_a = sum(cnt), sum(b.area for b in blocks)
    villages, grids = [], []
    for suffix, vname in COMMUNITIES:
        idx = [i for i in range(len(blocks)) if comm[i] == suffix]
        nb = sum(cnt[i] for i in idx)
        a = sum(blocks[i].area for i in idx)
        k = max(2, round(N_GRIDS_TARGET * (0.75 * nb / tot_b + 0.25 * a / tot_a)))
        vgeom = shapely.union_all([blocks[i] for i in idx], grid_size=GRID)
        vcode = TOWN_CODE + suffix
        villages.append({"code": vcode, "name": vname, "geom": orient(vgeom, 1.0)})
        bb, cc = absorb_thin_blocks([blocks[i] for i in idx], [cnt[i] for i in idx])
        parts = partition_community(bb, cc, k)
        geoms = [shapely.union_all([bb[i] for i in p], grid_size=GRID) for p in parts]
        # number the grids of a community from north to south, then west to east
        geoms.sort(key=lambda g: (-round(g.centroid.y, 3), g.centroid.x))
        for n, g in enumerate(geoms, 1):
            grids.append({"code": f"{vcode}-{n:02d}", "name": f"{vname}第{n}网格", "village": vcode,
                          "geom": orient(g, 1.0)})
    return town_exact, villages, grids


def verify_tiling(town, villages, grids):
    """Exact tiling checks (before defects)."""
    ok = True
    vu = shapely.union_all([v["geom"] for v in villages])
    if not vu.equals(town) or vu.symmetric_difference(town).area != 0:
        print("!! villages do not tile the town", area_m2(vu.symmetric_difference(town)))
        ok = False
    for i, v in enumerate(villages):
        if not v["geom"].is_valid:
            ok = False
            print("!! invalid village", v["code"])
        for w in villages[i + 1:]:
            if v["geom"].intersection(w["geom"]).area != 0:
                ok = False
                print("!! villages overlap", v["code"], w["code"])
        gs = [g["geom"] for g in grids if g["village"] == v["code"]]
        gu = shapely.union_all(gs)
        if not gu.equals(v["geom"]) or gu.symmetric_difference(v["geom"]).area != 0:
            ok = False
            print("!! grids do not tile", v["code"], area_m2(gu.symmetric_difference(v["geom"])))
        for a in range(len(gs)):
            for b in range(a + 1, len(gs)):
                if gs[a].intersection(gs[b]).area != 0:
                    ok = False
                    print("!! grids overlap in", v["code"])
    for g in grids:
        if not g["geom"].is_valid or g["geom"].geom_type != "Polygon" or len(g["geom"].interiors):
            ok = False
            print("!! grid not a simple valid polygon", g["code"], g["geom"].geom_type)
    if not ok:
        raise SystemExit("tiling verification failed")


# ---------------------------------------------------------------------------------------------
# 3. planted defects

def to_metric(g):
    return shapely.transform(g, lambda c: np.column_stack(to_m(c[:, 0], c[:, 1])))


def ring(poly):
    return list(poly.exterior.coords)[:-1]


def edges_of(poly):
    r = ring(poly)
    return {(r[i], r[(i + 1) % len(r)]) for i in range(len(r))}


def shared_edges(a, b):
    """Edges (p, q) of a's CCW ring that b's CCW ring holds as (q, p)."""
    eb = edges_of(b)
    r = ring(a)
    return [(r[i], r[(i + 1) % len(r)]) for i in range(len(r)) if (r[(i + 1) % len(r)], r[i]) in eb]


def replace_on_edge(poly, p, q, new_pts):
    """Insert new_pts (in order) between consecutive ring vertices p -> q of poly."""
    r = ring(poly)
    for i in range(len(r)):
        if r[i] == p and r[(i + 1) % len(r)] == q:
            out = r[:i + 1] + list(new_pts) + r[i + 1:]
            g = Polygon(out)
            return g
    raise ValueError("edge not found")


def frame(p, q):
    """Metric frame of edge p->q: origin p, unit u along, n = left normal (inside of a CCW ring)."""
    px, py = to_m(*p)
    qx, qy = to_m(*q)
    L = math.hypot(qx - px, qy - py)
    u = ((qx - px) / L, (qy - py) / L)
    n = (-u[1], u[0])
    return (px, py), u, n, L


def at(origin, u, n, s, t):
    """lon/lat (snapped) of the point s metres along u and t metres along n from origin."""
    x = origin[0] + s * u[0] + t * n[0]
    y = origin[1] + s * u[1] + t * n[1]
    return snap_pt(*from_m(x, y))


def local_st(origin, u, n, pt):
    x, y = to_m(pt.x, pt.y)
    dx, dy = x - origin[0], y - origin[1]
    return dx * u[0] + dy * u[1], dx * n[0] + dy * n[1]


class State:
    """Grids under construction plus what is needed to check the side effects of a defect."""

    def __init__(self, grids, buildings, town, addresses):
        self.grids = grids
        self.b = [b for b in buildings]
        self.town = town
        self.addr_pts = [a["point"] for a in addresses]
        self.used = set()          # grid codes already involved in a defect
        self.used_b = set()        # building ids already involved
        self.used_v = set()        # communities already holding a defect
        self.btree = STRtree([b["geom"] for b in self.b])
        self.baseline = self.status()

    def status(self):
        """Per building: (tuple of grid codes strictly containing loc, outside share or None)."""
        geoms = [g["geom"] for g in self.grids]
        tree = STRtree(geoms)
        out = {}
        for b in self.b:
            hit = tuple(sorted(self.grids[i]["code"] for i in tree.query(b["loc"], predicate="intersects")
                               if geoms[i].contains(b["loc"])))
            share = None
            if len(hit) == 1:
                g = geoms[[i for i in range(len(geoms)) if self.grids[i]["code"] == hit[0]][0]]
                share = 1.0 - g.intersection(b["geom"]).area / b["geom"].area
            out[b["id"]] = (hit, share)
        return out

    def effects(self, new_geoms):
        """(changed, borderline): buildings whose category (grids holding the location,
        straddling or not) changes if grids got new_geoms {code: geom}, and buildings of the
        touched area whose outside share would end up close to the 10 % threshold."""
        old = {g["code"]: g["geom"] for g in self.grids}
        region = shapely.union_all([old[c].symmetric_difference(new_geoms[c]) for c in new_geoms])
        changed, borderline = {}, []
        for i in self.btree.query(region, predicate="intersects"):
            b = self.b[i]
            hit = []
            for g in self.grids:
                geom = new_geoms.get(g["code"], g["geom"])
                if geom.contains(b["loc"]):
                    hit.append((g["code"], geom))
            hit.sort(key=lambda x: x[0])
            share = None
            if len(hit) == 1:
                share = 1.0 - hit[0][1].intersection(b["geom"]).area / b["geom"].area
                if 0.06 < share < 0.14:
                    borderline.append(b["id"])
            now = (tuple(c for c, _ in hit), share is not None and share > 0.10)
            h0, s0 = self.baseline[b["id"]]
            before = (h0, s0 is not None and s0 > 0.10)
            if now != before:
                changed[b["id"]] = (before, now, share)
        return changed, borderline

    def touches_address(self, region, margin_deg=2e-5):
        return any(region.buffer(margin_deg).contains(p) for p in self.addr_pts)

    def apply(self, new_geoms):
        for g in self.grids:
            if g["code"] in new_geoms:
                g["geom"] = new_geoms[g["code"]]
        self.baseline = self.status()

    def by_code(self, code):
        return [g for g in self.grids if g["code"] == code][0]

    def pairs(self):
        """Adjacent grid pairs (a, b) with shared edges, deterministic order."""
        out = []
        for a in self.grids:
            for b in self.grids:
                if a is b:
                    continue
                se = shared_edges(a["geom"], b["geom"])
                if se:
                    out.append((a, b, se))
        return out

    def locs_in(self, region, margin_m=1.0):
        """(ids of building locations strictly inside region, ids within margin_m of its edge)."""
        inside, close = [], []
        rb = to_metric(region).boundary
        for i in self.btree.query(region.buffer(5e-4), predicate="intersects"):
            b = self.b[i]
            x, y = to_m(b["loc"].x, b["loc"].y)
            dist = rb.distance(Point(x, y))
            if dist < margin_m:
                close.append(b["id"])
            elif region.contains(b["loc"]):
                inside.append(b["id"])
        return sorted(inside), sorted(close)

    def in_grid(self, code):
        return [b for b in self.b if self.baseline[b["id"]][0] == (code,)]


def quad_on_edge(o, u, n, s1, s2, depth, taper):
    """P1, Q1, Q2, P2 of a trapezoid standing on the edge between s1 and s2 (depth > 0: left)."""
    return at(o, u, n, s1, 0), at(o, u, n, s1 + taper, depth), at(o, u, n, s2 - taper, depth), at(o, u, n, s2, 0)


def plant_gap(st):
    """a. one grid's shared edge moved back 3-8 m along ~30 m: a sliver gap over a building."""
    best = None
    for a, b, se in st.pairs():
        if a["code"] in st.used or b["code"] in st.used:
            continue
        cands = st.in_grid(a["code"])
        for p, q in se:
            o, u, n, L = frame(p, q)
            if L < 14:
                continue
            for x in cands:
                if x["id"] in st.used_b:
                    continue
                s, t = local_st(o, u, n, x["loc"])
                if not (0.8 <= t <= 7.0 and 5 <= s <= L - 5):
                    continue
                d = min(8.0, max(3.0, round(t + 1.2)))
                s1, s2 = max(0.0, s - 12), min(L, s + 12)
                P1, Q1, Q2, P2 = quad_on_edge(o, u, n, s1, s2, d, 3.0)
                gap = Polygon([P1, P2, Q2, Q1])
                if not gap.is_valid or st.touches_address(gap):
                    continue
                ins = [P for P in (P1, P2) if P not in (p, q)]
                try:
                    na = replace_on_edge(a["geom"], p, q, [P for P in (P1,) if P != p] + [Q1, Q2] + [P for P in (P2,) if P != q])
                    nb = replace_on_edge(b["geom"], q, p, list(reversed(ins)))
                except ValueError:
                    continue
                if not (na.is_valid and nb.is_valid) or abs(a["geom"].difference(na).area - gap.area) > 0.01 * gap.area:
                    continue
                inside, close = st.locs_in(gap)
                if not inside or close:
                    continue
                changed, border = st.effects({a["code"]: na, b["code"]: nb})
                if set(changed) != set(inside) or border:
                    continue
                key = (a["village"] in st.used_v, len(inside), abs(d - 5), a["code"], b["code"], s)
                if best is None or key < best[0]:
                    best = (key, a, b, na, nb, gap, inside, d, s2 - s1)
    if best is None:
        raise SystemExit("no place for the gap defect")
    _, a, b, na, nb, gap, inside, d, length = best
    st.apply({a["code"]: na, b["code"]: nb})
    st.used |= {a["code"], b["code"]}
    st.used_v.add(a["village"])
    st.used_b |= set(inside)
    return {"kind": "gap", "grids": [a["code"], b["code"]], "geom": gap, "buildings": inside,
            "note": f"{a['code']} edge moved back {d:.0f} m along {length:.0f} m"}


def plant_overlap(st):
    """b. one grid's edge pushed 20-40 m into its neighbour over >= 2 buildings."""
    best = None
    for a, b, se in st.pairs():
        if a["code"] in st.used or b["code"] in st.used:
            continue
        cands = st.in_grid(b["code"])
        for p, q in se:
            o, u, n, L = frame(p, q)
            if L < 40:
                continue
            locs = []
            for x in cands:
                s, t = local_st(o, u, n, x["loc"])
                if -40 < t < 0 and 0 < s < L:
                    locs.append((s, t, x["id"]))
            if len(locs) < 2:
                continue
            for s1 in range(0, int(L) - 39, 5):
                s2 = min(L, s1 + 60.0)
                for d in range(20, 41, 2):
                    inn = [i for s, t, i in locs if s1 + 6 < s < s2 - 6 and -d + 1 < t < -1]
                    if len(inn) < 2:
                        continue
                    P1, Q1, Q2, P2 = quad_on_edge(o, u, n, s1, s2, -d, 5.0)
                    ov = Polygon([P1, Q1, Q2, P2])
                    if not ov.is_valid or ov.difference(b["geom"]).area > 1e-3 * ov.area or st.touches_address(ov):
                        continue
                    inside, close = st.locs_in(ov)
                    if len(inside) < 2 or close:
                        continue
                    try:
                        na = replace_on_edge(a["geom"], p, q, [P for P in (P1,) if P != p] + [Q1, Q2] + [P for P in (P2,) if P != q])
                        nb = replace_on_edge(b["geom"], q, p, [P for P in (P2, P1) if P not in (p, q)])
                    except ValueError:
                        continue
                    if not (na.is_valid and nb.is_valid):
                        continue
                    changed, border = st.effects({a["code"]: na, b["code"]: nb})
                    if set(changed) != set(inside) or border:
                        continue
                    key = (a["village"] in st.used_v, abs(len(inside) - 3), d, a["code"], b["code"], s1)
                    if best is None or key < best[0]:
                        best = (key, a, b, na, nb, ov, inside, d)
                    break
    if best is None:
        raise SystemExit("no place for the overlap defect")
    _, a, b, na, nb, ov, inside, d = best
    st.apply({a["code"]: na, b["code"]: nb})
    st.used |= {a["code"], b["code"]}
    st.used_v.add(a["village"])
    st.used_b |= set(inside)
    return {"kind": "overlap", "grids": [a["code"], b["code"]], "geom": ov, "buildings": inside,
            "note": f"{a['code']} edge pushed {d} m into {b['code']}"}


def plant_straddle(st):
    """c. a shared vertex moved (in both grids) so that the edge cuts a building: 20-60 % of it
    ends up outside the grid holding its location."""
    best = None
    for a, b, se in st.pairs():
        if a["code"] in st.used or b["code"] in st.used:
            continue
        cands = [x for x in st.in_grid(a["code"]) if st.baseline[x["id"]][1] < 0.01
                 and x["id"] not in st.used_b and area_m2(x["geom"]) > 150]
        for p, q in se:
            o, u, n, L = frame(p, q)
            if L < 20:
                continue
            pm = LineString([p, q])
            for x in cands:
                if x["geom"].distance(pm) * 95000 > 15:
                    continue
                xs = [local_st(o, u, n, Point(c)) for c in x["geom"].exterior.coords]
                smin, smax = min(v[0] for v in xs), max(v[0] for v in xs)
                tmax = max(v[1] for v in xs)
                for sa in np.arange(math.floor(smin), math.ceil(smax) + 1, 2.0):
                    for w in (8, 12, 16, 20, 25):
                        if sa - w < 1 or sa + w > L - 1:
                            continue
                        for h in np.arange(4, min(45, tmax + 10), 1.0):
                            P1, apex, P2 = at(o, u, n, sa - w, 0), at(o, u, n, sa, h), at(o, u, n, sa + w, 0)
                            tri = Polygon([P1, P2, apex])
                            share = tri.intersection(x["geom"]).area / x["geom"].area
                            if share < 0.25:
                                continue
                            if share > 0.55:
                                break
                            inside, close = st.locs_in(tri)
                            if inside or close or st.touches_address(tri):
                                break
                            na = replace_on_edge(a["geom"], p, q, [P1, apex, P2])
                            nb = replace_on_edge(b["geom"], q, p, [P2, apex, P1])
                            if not (na.is_valid and nb.is_valid):
                                break
                            changed, border = st.effects({a["code"]: na, b["code"]: nb})
                            if set(changed) != {x["id"]} or border:
                                break
                            key = (a["village"] in st.used_v, abs(share - 0.4) > 0.1, h, a["code"], x["id"])
                            if best is None or key < best[0]:
                                best = (key, a, b, na, nb, tri, x, share, apex, h)
                            break
    if best is None:
        raise SystemExit("no place for the straddling defect")
    _, a, b, na, nb, tri, x, share, apex, h = best
    st.apply({a["code"]: na, b["code"]: nb})
    st.used |= {a["code"], b["code"]}
    st.used_v.add(a["village"])
    st.used_b.add(x["id"])
    return {"kind": "straddling", "grids": [a["code"], b["code"]], "geom": tri, "buildings": [x["id"]],
            "note": f"a vertex of the shared edge pulled {h:.0f} m into {a['code']} (same vertex in both "
                    f"grids, now at {apex[0]:.7f},{apex[1]:.7f}); {share:.0%} of the building, located in "
                    f"{a['code']}, now lies in {b['code']}"}


def plant_outside(st, river):
    """d. a riverside edge pushed ~20 m into the Huangpu."""
    best = None
    others = {g["code"]: g["geom"] for g in st.grids}
    for g in st.grids:
        if g["code"] in st.used:
            continue
        shared = set()
        for h in st.grids:
            if h is not g:
                shared |= set(shared_edges(g["geom"], h["geom"]))
        r = ring(g["geom"])
        for i in range(len(r)):
            p, q = r[i], r[(i + 1) % len(r)]
            if (p, q) in shared:
                continue
            o, u, n, L = frame(p, q)
            if not 30 <= L <= 90:
                continue
            mid = Point(*from_m(o[0] + u[0] * L / 2 - n[0] * 3, o[1] + u[1] * L / 2 - n[1] * 3))
            if not river.contains(mid):
                continue
            # the whole edge moves: no new vertex has to sit on the (unsnappable) river line
            d = 20
            _, Q1, Q2, _ = quad_on_edge(o, u, n, 0.0, L, -d, 5.0)
            P1, P2 = p, q
            quad = Polygon([P1, Q1, Q2, P2])
            if not quad.is_valid or quad.difference(river).area > 1e-3 * quad.area:
                continue
            if any(quad.intersection(og).area > 1e-3 * quad.area for c, og in others.items() if c != g["code"]):
                continue
            if st.btree.query(quad, predicate="intersects").size:
                continue
            ng = replace_on_edge(g["geom"], p, q, [P for P in (P1,) if P != p] + [Q1, Q2] + [P for P in (P2,) if P != q])
            if not ng.is_valid:
                continue
            changed, border = st.effects({g["code"]: ng})
            if changed or border:
                continue
            key = (g["village"] in st.used_v, abs(L - 50), g["code"])
            if best is None or key < best[0]:
                best = (key, g, ng, quad, d)
    if best is None:
        raise SystemExit("no place for the outside-boundary defect")
    _, g, ng, quad, d = best
    st.apply({g["code"]: ng})
    st.used.add(g["code"])
    st.used_v.add(g["village"])
    return {"kind": "outside_boundary", "grids": [g["code"]], "geom": quad, "buildings": [],
            "note": f"riverside edge pushed {d} m into the Huangpu"}


# ---------------------------------------------------------------------------------------------
# 4. addresses

STREET_ZH = {"Zhongshan East 2nd Road": "中山东二路"}


def build_addresses(buildings, grids, villages):
    """One standard address per building with street + housenumber; grid from the clean tiling."""
    pudong = {v["code"] for v in villages if v["code"][-3:] in ("004", "005", "006")}
    pudong_geom = shapely.union_all([v["geom"] for v in villages if v["code"] in pudong])
    puxi_geom = shapely.union_all([v["geom"] for v in villages if v["code"] not in pudong])
    out = []
    for b in buildings:
        st, hn = b["props"]["addr_street"], b["props"]["addr_housenumber"]
        if not st or not hn:
            continue
        pt = Point(rnd(b["loc"].x), rnd(b["loc"].y))
        assert b["geom"].contains(pt)
        east = pudong_geom.distance(pt) < puxi_geom.distance(pt)
        district = "浦东新区" if east else "黄浦区"
        street = STREET_ZH.get(st, st)
        number = hn if hn.endswith("号") else hn + "号"
        grid = [g["code"] for g in grids if g["geom"].contains(pt)]
        out.append({"id": f"addr-{len(out) + 1}", "text": f"上海市{district}{street}{number}",
                    "building": b["id"], "grid": grid[0] if len(grid) == 1 else None, "point": pt,
                    "village": grid[0][:12] if grid else None})
    return out


def plant_address_defects(st, addresses, buildings):
    """2 addresses declaring a neighbouring grid, 2 addresses moved 15-40 m into open space."""
    bmap = {b["id"]: b for b in buildings}
    btree = STRtree([b["geom"] for b in buildings])
    defects = []
    used_v = set()
    eligible = [a for a in addresses if a["grid"] and a["grid"] not in st.used and a["building"] not in st.used_b]
    # wrong declared grid
    for a in eligible:
        if len([d for d in defects if d["kind"] == "address_grid_mismatch"]) == 2:
            break
        if a["village"] in used_v:
            continue
        g = st.by_code(a["grid"])
        # the point must sit well inside its grid, so the mismatch is unambiguous
        if to_metric(g["geom"]).boundary.distance(Point(*to_m(a["point"].x, a["point"].y))) < 5:
            continue
        nbrs = sorted(((h["code"], g["geom"].boundary.intersection(h["geom"].boundary).length)
                       for h in st.grids if h is not g and h["code"] not in st.used), key=lambda kv: (-kv[1], kv[0]))
        if not nbrs or nbrs[0][1] <= 0:
            continue
        wrong = nbrs[0][0]
        defects.append({"kind": "address_grid_mismatch", "address": a["id"], "declared": wrong,
                        "actual": a["grid"], "buildings": [a["building"]], "grids": [a["grid"], wrong],
                        "geom": a["point"]})
        a["grid"] = wrong
        used_v.add(a["village"])
    # moved off the building
    taken = {d["address"] for d in defects}
    for a in eligible:
        if len([d for d in defects if d["kind"] == "address_not_in_building"]) == 2:
            break
        if a["id"] in taken or a["village"] in used_v:
            continue
        g = st.by_code(a["grid"])
        gm = to_metric(g["geom"])
        own = to_metric(bmap[a["building"]]["geom"])
        x0, y0 = to_m(a["point"].x, a["point"].y)
        found = None
        for dist in (20, 25, 30, 35):
            for bearing in range(0, 360, 15):
                x = x0 + dist * math.sin(math.radians(bearing))
                y = y0 + dist * math.cos(math.radians(bearing))
                pt = Point(*snap_pt(*from_m(x, y)))
                pm = Point(x, y)
                if not gm.contains(pm) or gm.boundary.distance(pm) < 5:
                    continue
                d_own = own.distance(pm)
                if not 15 <= d_own <= 40:
                    continue
                near = btree.query(pt.buffer(1e-4), predicate="intersects")
                if any(to_metric(buildings[i]["geom"]).distance(pm) < 4 for i in near):
                    continue
                found = (pt, dist, bearing, d_own)
                break
            if found:
                break
        if not found:
            continue
        pt, dist, bearing, d_own = found
        defects.append({"kind": "address_not_in_building", "address": a["id"], "buildings": [a["building"]],
                        "grids": [a["grid"]], "geom": pt,
                        "note": f"moved {dist} m (bearing {bearing}°), {d_own:.0f} m from its building"})
        a["point"] = pt
        used_v.add(a["village"])
    if len(defects) != 4:
        raise SystemExit("could not plant the address defects")
    return defects


# ---------------------------------------------------------------------------------------------
# 5. output

def write_outputs(out, raw, town, villages, grids, buildings, addresses):
    os.makedirs(os.path.join(out, "raw"), exist_ok=True)
    if os.path.realpath(raw) != os.path.realpath(os.path.join(out, "raw")):
        for fn in ("buildings.geojson", "roads.geojson", "water.geojson", "landuse.geojson", "PROVENANCE.md"):
            shutil.copyfile(os.path.join(raw, fn), os.path.join(out, "raw", fn))
    attribution = {"attribution": "© OpenStreetMap contributors", "license": "ODbL-1.0"}
    write_fc(os.path.join(out, "town.geojson"),
             [feature({"code": TOWN_CODE, "name": TOWN_NAME}, geom_json(town))], attribution)
    write_fc(os.path.join(out, "villages.geojson"),
             [feature({"code": v["code"], "name": v["name"], "town": TOWN_CODE}, geom_json(v["geom"]))
              for v in villages], attribution)
    write_fc(os.path.join(out, "grids.geojson"),
             [feature({"code": g["code"], "name": g["name"], "village": g["village"]}, geom_json(g["geom"]))
              for g in grids], attribution)
    write_fc(os.path.join(out, "buildings.geojson"),
             [feature(b["props"], geom_json(b["geom"], None)) for b in buildings], attribution)
    write_fc(os.path.join(out, "addresses.geojson"),
             [feature({"id": a["id"], "text": a["text"], "building": a["building"], "grid": a["grid"]},
                      geom_json(a["point"])) for a in addresses], attribution)


# ---------------------------------------------------------------------------------------------
# 6. the oracle (recomputed from the files as written)

def oracle(out):
    town = shape(load_fc(os.path.join(out, "town.geojson"))[0]["geometry"])
    grids = [(f["properties"]["code"], shape(f["geometry"])) for f in load_fc(os.path.join(out, "grids.geojson"))]
    blds = [(f["properties"]["id"], shape(f["geometry"])) for f in load_fc(os.path.join(out, "buildings.geojson"))]
    addrs = [(f["properties"]["id"], f["properties"]["grid"], shape(f["geometry"]))
             for f in load_fc(os.path.join(out, "addresses.geojson"))]
    gtree = STRtree([g for _, g in grids])
    btree = STRtree([g for _, g in blds])
    grid_edges = utm(shapely.union_all([g.boundary for _, g in grids]))

    def holders(pt):
        return sorted(grids[i][0] for i in gtree.query(pt, predicate="intersects") if grids[i][1].contains(pt))

    locs, holder, fragile = {}, {}, []
    in_no, in_many, straddling = [], [], []
    n_one = 0
    min_edge = float("inf")
    for bid, g in blds:
        pt = g.point_on_surface()
        locs[bid] = pt
        de = utm(pt).distance(grid_edges)
        min_edge = min(min_edge, de)
        if de < 1.0:
            fragile.append({"building": bid, "distance_m": round(de, 3)})
        h = holders(pt)
        holder[bid] = h
        if not h:
            in_no.append(bid)
        elif len(h) > 1:
            in_many.append({"building": bid, "grids": h})
        else:
            n_one += 1
            gg = dict(grids)[h[0]]
            share = 1.0 - area_m2(g.intersection(gg)) / area_m2(g)
            if share > 0.10:
                straddling.append({"building": bid, "grid": h[0], "outside_share": round(share, 4)})
    overlaps = []
    for i in range(len(grids)):
        for j in gtree.query(grids[i][1], predicate="intersects"):
            if j <= i:
                continue
            inter = grids[i][1].intersection(grids[j][1])
            a = area_m2(inter)
            if a > 1.0:
                pair = sorted([grids[i][0], grids[j][0]])
                overlaps.append({"grids": pair, "area_m2": round(a, 2),
                                 "buildings": sorted(b for b in holder if set(pair) <= set(holder[b]))})
    overlaps.sort(key=lambda o: o["grids"])
    gaps = []
    for part in polys_of(town.difference(shapely.union_all([g for _, g in grids]))):
        a = area_m2(part)
        if a > 1.0:
            rp = part.point_on_surface()
            gaps.append({"area_m2": round(a, 2), "point": [round(rp.x, 7), round(rp.y, 7)],
                         "buildings": sorted(b for b, pt in locs.items() if part.contains(pt))})
    gaps.sort(key=lambda x: (-x["area_m2"], x["point"]))
    outside = []
    for code, g in grids:
        a = area_m2(g.difference(town))
        if a > 1.0:
            outside.append({"grid": code, "area_m2": round(a, 2)})
    not_in_b, mismatch = [], []
    min_addr_edge = float("inf")
    for aid, declared, pt in addrs:
        if not any(blds[i][1].covers(pt) for i in btree.query(pt, predicate="intersects")):
            cand = btree.query(pt.buffer(1e-3)) if len(btree.query(pt.buffer(1e-3))) else range(len(blds))
            near = min(dist_m(pt, blds[i][1]) for i in cand)
            not_in_b.append({"address": aid, "distance_m": round(near, 2)})
        h = holders(pt)
        min_addr_edge = min(min_addr_edge, utm(pt).distance(grid_edges))
        assert len(h) <= 1, f"address {aid} lies in several grids"
        actual = h[0] if h else None
        if actual != declared:
            mismatch.append({"address": aid, "declared": declared, "actual": actual})
    summary = {
        "buildings": len(blds), "grids": len(grids), "addresses": len(addrs),
        "in_one_grid": n_one, "in_no_grid": len(in_no), "in_many_grids": len(in_many),
        "straddling": len(straddling), "overlaps": len(overlaps), "gaps": len(gaps),
        "outside_boundary": len(outside), "addresses_not_in_building": len(not_in_b),
        "addresses_grid_mismatch": len(mismatch),
    }
    exp = {
        "summary": summary,
        "in_no_grid": sorted(in_no),
        "in_many_grids": sorted(in_many, key=lambda x: x["building"]),
        "straddling": sorted(straddling, key=lambda x: x["building"]),
        "overlaps": overlaps,
        "gaps": gaps,
        "outside_boundary": sorted(outside, key=lambda x: x["grid"]),
        "addresses": {"not_in_building": sorted(not_in_b, key=lambda x: x["address"]),
                      "grid_mismatch": sorted(mismatch, key=lambda x: x["address"])},
        # locations closer than 1 m to a grid edge: an interior-point algorithm other than
        # GEOS point_on_surface() may put them on the other side
        "fragile_locations": sorted(fragile, key=lambda x: x["building"]),
        # building location = shapely/GEOS point_on_surface() of the footprint, full precision
        "locations": {bid: [locs[bid].x, locs[bid].y] for bid in sorted(locs)},
    }
    return exp, min_edge, min_addr_edge


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def write_readme(path, out, defects, exp, villages, grids, buildings, addresses, min_edge):
    def size(fn):
        return os.path.getsize(os.path.join(out, fn))

    rect = box(*STUDY_BBOX)
    town = shape(load_fc(os.path.join(out, "town.geojson"))[0]["geometry"])
    bmap = {b["id"]: b for b in buildings}
    missing_tile_grid = [g["code"] for g in grids if g["geom"].contains(Point(121.5035, 31.2385))][0]
    planted_b = {b for d in defects for b in d["buildings"] if not d["kind"].startswith("address")}
    files = [
        ("raw/", "–", "verbatim copy of the OSM extract actually used (buildings, roads, water, land use) and its PROVENANCE.md"),
        ("town.geojson", 1, f"the demo town {TOWN_NAME} ({TOWN_CODE}): study rectangle minus 黄浦江 and 苏州河 (MultiPolygon of 3 land parts)"),
        ("villages.geojson", len(villages), "communities (社区); tile the town exactly"),
        ("grids.geojson", len(grids), "grids (网格) along real roads; tiled their community exactly before the defects below were planted"),
        ("buildings.geojson", len(buildings), "real OSM buildings (kind=building, building parts dropped), footprints unchanged, synthetic floors/households"),
        ("addresses.geojson", len(addresses), "standard addresses (Point) of the buildings that carry addr:street + addr:housenumber in OSM, with planted defects"),
        ("expected.json", "–", "oracle for the golden tests, computed with shapely from the files above"),
    ]
    lines = [
        f"# Demo data: {TOWN_NAME}",
        "",
        "Everything under `data/demo/` and this README are **generated** by `data/build_demo.py`; do not edit",
        "them by hand. Regenerate (deterministic, ~30 s) from the repository root with",
        "",
        "```sh",
        "pip install shapely pyproj && python3 data/build_demo.py   # [RAW_DIR], default ../shared/data/shanghai-bund-lujiazui, else data/demo/raw",
        "```",
        "",
        "## Licence and attribution",
        "",
        "Map data **© OpenStreetMap contributors**, available under the Open Database License (ODbL 1.0),",
        "<https://www.openstreetmap.org/copyright>. The files in `data/demo/` are a derived database of that",
        "data and stay under the ODbL; whoever ships or displays them must credit “© OpenStreetMap contributors”.",
        "Every GeoJSON file carries this attribution in a top-level `attribution` member. The raw extract",
        "(Shanghai, the Bund and Lujiazui; see `demo/raw/PROVENANCE.md`) came from Tilezen vector tiles.",
        "",
        "## Files",
        "",
        md_table(["file", "features", "bytes", "content"],
                 [(f"`demo/{f}`", n, size(f) if not f.endswith("/") else sum(size(os.path.join("raw", x)) for x in os.listdir(os.path.join(out, "raw"))), c)
                  for f, n, c in files]),
        "",
        "All GeoJSON is RFC 7946 (WGS84 lon/lat, exterior rings counter-clockwise), UTF-8, one feature per",
        "line. Constructed geometry (town, communities, grids, addresses) is on a 1e-7° grid (~1 cm) and",
        "written with 7 decimals; neighbouring polygons share identical vertices. Building footprints keep",
        "the OSM coordinates (8 decimals).",
        "",
        "Properties:",
        "",
        "* town: `code`, `name`; villages: `code` (e.g. `310101001001`), `name`, `town`;",
        "  grids: `code` (e.g. `310101001001-01`), `name` (e.g. `北外滩社区第1网格`), `village`.",
        "* buildings: `id` (`osm-<way id>`, or `osm-r<relation id>` for the 6 multipolygon relations, which",
        "  Tilezen gives negative ids), `name` (OSM, may be null), `kind` (OSM `kind_detail`, else `building`),",
        "  `floors`, `floors_from` (`height` or `default`), `households`, `addr_street`, `addr_housenumber`",
        "  (OSM, may be null), `synthetic: true` (floors and households are synthetic).",
        "* addresses: `id` (`addr-<n>`), `text`, `building` (building id), `grid` (declared grid code).",
        "",
        "## Real and synthetic",
        "",
        "Real (OSM): building footprints, names, kinds, heights, street names and house numbers, the roads",
        "and the river polygons the boundaries are drawn from.",
        "",
        "Synthetic (fictional, for the demo only):",
        "",
        f"* the town {TOWN_NAME} / `{TOWN_CODE}`, the community and grid names and codes. Community names",
        "  borrow local place names but the units and their borders are invented;",
        "* `floors`: round-half-up(height / 3), at least 1, from the OSM height; 6 when OSM has no height;",
        "* `households`: 0 for non-residential buildings (`kind` commercial, office, hotel, retail, bank,",
        "  attraction, place_of_worship, … and, as a plausibility tweak, generic buildings that carry a name",
        "  not suggesting housing such as 公寓/住宅/小区/弄/里), otherwise floors × a per-floor value drawn",
        "  from `random.Random(42).randint(2, 6)` (one draw per residential building, in file order);",
        "* the district in address texts: 黄浦区 west of the Huangpu (also north of 苏州河, which is really",
        "  虹口区), 浦东新区 east of it; the street `Zhongshan East 2nd Road` is written as 中山东二路.",
        "* the planted defects below.",
        "",
        "## How the boundaries were drawn",
        "",
        f"* Study rectangle = the exact extent of the source tiles, {STUDY_BBOX[0]}–{STUDY_BBOX[2]} E,",
        f"  {STUDY_BBOX[1]}–{STUDY_BBOX[3]} N. Town = rectangle minus the water polygons named 黄浦江 and 苏州河",
        "  (ponds and 虹口港 are left in).",
        "* Road network = `major_road` + `minor_road` (tunnels dropped) plus three short straight cuts that",
        "  prolong 延安东路, 浦东南路 and 东昌路 across the riverside strips to the river. Polygonized inside",
        "  the town it gives road blocks; blocks sharing a building are merged, thin median strips are merged",
        "  into a neighbour.",
        "* Communities: blocks are assigned by the side of 苏州河, 延安东路, 浦东南路 and 东昌路/世纪大道 they lie on:",
        "",
        md_table(["code", "name", "grids", "area (ha)", "where"],
                 [(v["code"], v["name"], sum(1 for g in grids if g["village"] == v["code"]),
                   f"{area_m2(v['geom']) / 1e4:.0f}", w)
                  for v, w in zip(villages, ["Puxi north of 苏州河", "Puxi, 苏州河 to 延安东路 (the Bund)",
                                             "Puxi south of 延安东路 (豫园, 南外滩)", "Pudong west of 浦东南路, north of 东昌路",
                                             "Pudong east of 浦东南路, north of 世纪大道", "Pudong south of 东昌路 / 世纪大道"])]),
        "",
        "* Grids: within each community, blocks are grown into contiguous grids of comparable building count",
        "  (plus a small area term) and numbered north to south. Before the defects were planted the script",
        "  verified that the communities tile the town and the grids tile each community exactly (shapely:",
        "  unions equal, pairwise intersections of zero area, every grid one valid Polygon without holes).",
        "  One tile in the middle of Lujiazui (≈121.500–121.507 E, 31.236–31.241 N) is missing from the",
        f"  source, so grid {missing_tile_grid} is a large block with few buildings.",
        "",
        "## Planted defects",
        "",
        "Areas in m² (UTM 51N). Location = centroid of the defect area (or the address point).",
        "",
        md_table(["kind", "grids", "lon, lat", "area m²", "buildings / address", "how"],
                 [(d["kind"], ", ".join(d["grids"]), f"{d['geom'].centroid.x:.5f}, {d['geom'].centroid.y:.5f}",
                   f"{area_m2(d['geom']):.0f}" if d["geom"].geom_type == "Polygon" else "–",
                   (", ".join(d["buildings"]) or "–") + (f" / {d['address']}" if "address" in d else ""),
                   d.get("note", "") if d["kind"] != "address_grid_mismatch" else
                   f"declares {d['declared']}, lies in {d['actual']}")
                  for d in defects]),
        "",
        "* gap: the building's location falls in the sliver, so it is in no grid;",
        "* overlap: the buildings' locations are in both grids (`in_many_grids`);",
        "* straddling: the building stays assigned to the first grid, but part of its footprint now lies in",
        "  the neighbour; the vertex was moved in both grids, so no gap or overlap results;",
        "* outside_boundary: no building is involved;",
        "* address_not_in_building: the point was moved into open space (≥ 4 m from any building); it",
        "  stays in the grid it declares.",
        "",
        "## Natural problems (real data, not planted)",
        "",
    ]
    nat_none = [b for b in exp["in_no_grid"] if b not in planted_b]
    outside_rect = [b for b in nat_none if not rect.contains(bmap[b]["loc"])]
    other_none = [b for b in nat_none if b not in outside_rect]
    nat_strad = [s for s in exp["straddling"] if s["building"] not in planted_b]
    strad_rows = []
    for s_ in nat_strad:
        fp = bmap[s_["building"]]["geom"]
        out_rect = area_m2(fp.difference(rect)) / area_m2(fp)
        in_river = area_m2(fp.intersection(rect).difference(town)) / area_m2(fp)
        why = "crosses the study-area edge" if out_rect > 0.5 * s_["outside_share"] else (
            "reaches into the river" if in_river > 0.5 * s_["outside_share"] else "crosses a grid edge")
        strad_rows.append((s_["building"], s_["grid"], f"{s_['outside_share']:.3f}", why))
    near_thr = sum(1 for s_ in nat_strad if s_["outside_share"] < 0.12)
    rect_m = utm(rect.boundary)
    fragile_on_edge = sum(1 for f in exp["fragile_locations"] if utm(bmap[f["building"]]["loc"]).distance(rect_m) < 1.0)
    lines += [
        "Buildings are not clipped to the study area, so the edge of the extract shows up in the oracle:",
        "",
        f"* `in_no_grid`: {len(outside_rect)} buildings whose location lies outside the study rectangle "
        f"(they belong to the neighbouring, unmapped area){'' if not other_none else '; others: ' + ', '.join(other_none)};",
        f"* `straddling`: {len(nat_strad)} buildings, see the table (`outside_share` is the part beyond the",
        f"  rectangle for buildings cut by the study-area edge); {near_thr} of them are within 0.02 of the",
        "  10 % threshold:",
        "",
        md_table(["building", "grid", "outside_share", "why"], strad_rows),
        "",
        f"* `fragile_locations` in expected.json lists {len(exp['fragile_locations'])} buildings whose location is "
        f"closer than 1 m to a grid edge ({fragile_on_edge} of them on the study-area edge); an interior-point algorithm other than",
        f"  GEOS `point_on_surface()` may classify them differently. Closest: {min_edge:.2f} m.",
        "* No other gaps, overlaps or boundary problems: the tiling is exact apart from the planted defects.",
        "",
        "## expected.json",
        "",
        "Computed by the script with shapely 2 / GEOS from the files as written:",
        "",
        "* a building's location is `point_on_surface()` of its footprint (all given in `locations`);",
        "* `in_no_grid` / `in_many_grids`: location strictly inside no grid / at least two grids; the",
        "  summary also counts `in_one_grid`;",
        "* `straddling`: buildings in exactly one grid with `outside_share` = 1 − area(footprint ∩ grid) /",
        "  area(footprint) > 0.10;",
        "* `overlaps`: grid pairs whose intersection is larger than 1 m², with the buildings located in it;",
        "* `gaps`: parts of town − ∪grids larger than 1 m², with a `point` inside and the buildings located in it;",
        "* `outside_boundary`: grids with more than 1 m² outside the town;",
        "* `addresses.not_in_building`: address points not covered by any footprint, with the distance to",
        "  the nearest building; `addresses.grid_mismatch`: declared grid ≠ the grid strictly containing the",
        "  point (`actual` is null when the point is in no grid);",
        "* areas and distances in metres on EPSG:32651 (UTM 51N) via pyproj, rounded to 0.01; shares to 1e-4.",
        "",
        "Summary:",
        "",
        "```json",
        json.dumps(exp["summary"], ensure_ascii=False, indent=1),
        "```",
        "",
    ]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# 7. main

def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default_raw = os.path.normpath(os.path.join(repo, "..", "shared", "data", "shanghai-bund-lujiazui"))
    if not os.path.exists(os.path.join(default_raw, "buildings.geojson")):
        default_raw = os.path.join(repo, "data", "demo", "raw")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", nargs="?", default=default_raw, help="directory with the raw OSM GeoJSON files")
    ap.add_argument("--out", default=os.path.join(repo, "data", "demo"))
    args = ap.parse_args()

    buildings = load_buildings(args.raw)
    town0, river = build_town(args.raw)
    town, villages, grids = build_tiling(args.raw, town0, buildings)
    verify_tiling(town, villages, grids)
    addresses = build_addresses(buildings, grids, villages)

    st = State(grids, buildings, town, addresses)
    defects = [plant_gap(st), plant_overlap(st), plant_straddle(st), plant_outside(st, river)]
    defects += plant_address_defects(st, addresses, buildings)
    for g in grids:
        assert g["geom"].is_valid and g["geom"].geom_type == "Polygon", g["code"]

    write_outputs(args.out, args.raw, town, villages, grids, buildings, addresses)
    exp, min_edge, min_addr_edge = oracle(args.out)
    if min_edge < 0.05 or min_addr_edge < 0.05:
        raise SystemExit(f"a location lies (almost) on a grid edge: {min_edge:.3f} m / {min_addr_edge:.3f} m")
    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(exp, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    write_readme(os.path.join(repo, "data", "README.md"), args.out, defects, exp, villages, grids,
                 buildings, addresses, min_edge)

    s = exp["summary"]
    print(f"town {TOWN_CODE} {TOWN_NAME}: {len(villages)} communities, {len(grids)} grids, "
          f"{len(buildings)} buildings, {len(addresses)} addresses")
    print("planted defects:")
    for d in defects:
        c = d["geom"].centroid
        extra = f" {area_m2(d['geom']):.0f} m²" if d["geom"].geom_type == "Polygon" else ""
        print(f"  {d['kind']:<24} grids {','.join(d['grids']):<40} at {c.x:.5f},{c.y:.5f}{extra} "
              f"buildings {','.join(d['buildings']) or '-'}" + (f" ({d['address']})" if "address" in d else ""))
    print("expected.json summary:", json.dumps(s, ensure_ascii=False))
    print(f"closest building location to a grid edge: {min_edge:.2f} m; closest address: {min_addr_edge:.2f} m")


if __name__ == "__main__":
    main()
