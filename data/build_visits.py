#!/usr/bin/env python3
"""Writes data/demo/visits.geojson: SYNTHETIC household visits (入户走访) to the demo buildings
during a campaign from 2026-11-01 to 2026-11-20, so that the coverage views (heatmaps, rankings,
progress) have something to show. No person is named: workers are ids like
w-310101001002-03-1 (grid code and a number).

Each grid gets a target share of buildings visited, spread evenly from about 20% to about 92%
and shuffled among the grids (about 60% of the buildings over all), so rankings differ. A
building of a grid (its location, GEOS point_on_surface from expected.json, strictly inside the
grid) is visited with that chance on a random day, by one of the grid's two workers; some of
those first found nobody home on an earlier day. Some buildings left unvisited had an attempt
that found nobody home or was refused, so they still count as unvisited. Buildings in no grid
get no visit.

Every visit carries the worker's GPS point: 3-20 m from the building's location, or, for about
3% of visits, 70-200 m away and more than 50 m from the footprint; those carry the note
`[flagged] GPS <n> m from the building`, as the server writes for a visit recorded with a far
point, so the statistics count them as flagged.

    python3 data/build_visits.py      (from the repository root; stdlib only; deterministic)
"""
import datetime
import json
import math
import random
from pathlib import Path

root = Path(__file__).resolve().parent
demo = root / "demo"
rng = random.Random(20261101)

START = datetime.date(2026, 11, 1)
DAYS = 20  # 2026-11-01 … 2026-11-20
FLAG_M = 50.0  # the server's default --gps-flag-m
FAR_SHARE = 0.03
EARTH_R = 6_371_008.8


def rings_of(geometry):
    """Polygons of a (Multi)Polygon as lists of rings of (lon, lat)."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    return geometry["coordinates"]


def in_ring(x, y, ring):
    """Ray casting: is (x, y) strictly inside the ring (edges are rare enough to ignore)?"""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def in_polygons(x, y, polygons):
    return any(
        in_ring(x, y, p[0]) and not any(in_ring(x, y, h) for h in p[1:]) for p in polygons
    )


def to_metres(origin, c):
    """Local east/north metres of c from origin (equirectangular; fine over a few hundred m)."""
    k = math.pi / 180 * EARTH_R
    return ((c[0] - origin[0]) * k * math.cos(math.radians(origin[1])), (c[1] - origin[1]) * k)


def offset(origin, metres, bearing_deg):
    k = math.pi / 180 * EARTH_R
    b = math.radians(bearing_deg)
    dx, dy = metres * math.sin(b), metres * math.cos(b)
    return (origin[0] + dx / (k * math.cos(math.radians(origin[1]))), origin[1] + dy / k)


def distance_to_footprint(point, polygons):
    """Metres from point to the footprint (0 inside), as the server measures it."""
    if in_polygons(point[0], point[1], polygons):
        return 0.0
    best = math.inf
    for p in polygons:
        for ring in p:
            for a, b in zip(ring, ring[1:]):
                ax, ay = to_metres(point, a)
                bx, by = to_metres(point, b)
                dx, dy = bx - ax, by - ay
                t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
                best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


grids = json.loads((demo / "grids.geojson").read_text(encoding="utf-8"))["features"]
buildings = json.loads((demo / "buildings.geojson").read_text(encoding="utf-8"))["features"]
locations = json.loads((demo / "expected.json").read_text(encoding="utf-8"))["locations"]

grid_shapes = sorted((g["properties"]["code"], rings_of(g["geometry"])) for g in grids)
codes = [c for c, _ in grid_shapes]
# Target shares from ~20% to ~92%, skewed up a little so the town lands near 60%.
targets = [0.20 + 0.72 * (i / (len(codes) - 1)) ** 0.8 for i in range(len(codes))]
rng.shuffle(targets)
target = dict(zip(codes, targets))

by_grid = {c: [] for c in codes}
for b in sorted(buildings, key=lambda f: f["properties"]["id"]):
    bid = b["properties"]["id"]
    x, y = locations[bid]
    grid = next((c for c, shape in grid_shapes if in_polygons(x, y, shape)), None)
    if grid is not None:
        by_grid[grid].append((bid, (x, y), rings_of(b["geometry"])))


def when(day):
    minute = rng.randint(9 * 60, 18 * 60 - 1)
    d = START + datetime.timedelta(days=day)
    return f"{d.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00+08:00"


visits = []


def visit(bid, location, footprint, worker, day, outcome):
    far = rng.random() < FAR_SHARE
    note = None
    if far:
        for _ in range(100):
            point = offset(location, rng.uniform(70, 200), rng.uniform(0, 360))
            d = distance_to_footprint(point, footprint)
            if d > FLAG_M:
                note = f"[flagged] GPS {d:.0f} m from the building"
                break
    if note is None:
        point = offset(location, rng.uniform(3, 20), rng.uniform(0, 360))
    visits.append({
        "type": "Feature",
        "properties": {
            "id": f"visit-demo-{len(visits) + 1:05d}", "building": bid, "worker": worker,
            "time": when(day), "outcome": outcome, "note": note,
        },
        "geometry": {"type": "Point", "coordinates": [round(point[0], 7), round(point[1], 7)]},
    })


summary = []
for code in codes:
    workers = [f"w-{code}-1", f"w-{code}-2"]
    done = 0
    for bid, location, footprint in by_grid[code]:
        worker = rng.choice(workers)
        if rng.random() < target[code]:
            day = rng.randrange(DAYS)
            if day > 0 and rng.random() < 0.15:
                visit(bid, location, footprint, worker, rng.randrange(day), "nobody_home")
            visit(bid, location, footprint, worker, day, "visited")
            done += 1
        else:
            r = rng.random()
            if r < 0.15:
                visit(bid, location, footprint, worker, rng.randrange(DAYS), "nobody_home")
            elif r < 0.19:
                visit(bid, location, footprint, worker, rng.randrange(DAYS), "refused")
    summary.append((code, len(by_grid[code]), done))

visits.sort(key=lambda f: (f["properties"]["time"], f["properties"]["id"]))
for i, f in enumerate(visits):
    f["properties"]["id"] = f"visit-demo-{i + 1:05d}"
out = demo / "visits.geojson"
with out.open("w", encoding="utf-8") as f:
    f.write('{"type":"FeatureCollection","synthetic":"generated by data/build_visits.py; no real visits",\n"features":[\n')
    f.write(",\n".join(json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in visits))
    f.write("\n]}\n")
total = sum(n for _, n, _ in summary)
visited = sum(d for _, _, d in summary)
flagged = sum(1 for v in visits if v["properties"]["note"])
outcomes = {}
for v in visits:
    outcomes[v["properties"]["outcome"]] = outcomes.get(v["properties"]["outcome"], 0) + 1
print(f"wrote {out}: {len(visits)} visits {outcomes}, {flagged} flagged; "
      f"{visited}/{total} buildings in a grid visited ({visited / total:.0%})")
for code, n, d in summary:
    print(f"  {code}: {d}/{n} ({d / n if n else 0:.0%})")
