"""Uncached vector tile latency, gridmap vs PostGIS ST_AsMVT, on the same tiles; then cached
gridmap throughput with wrk (64 connections, 30 s). See bench/run_tiles.sh."""
import argparse, json, math, random, statistics, subprocess, time, urllib.request

import psycopg2

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pgport", type=int, required=True)
ap.add_argument("--buildings", required=True)
ap.add_argument("--per-zoom", type=int, default=150)
a = ap.parse_args()
base = f"http://127.0.0.1:{a.port}"

req = urllib.request.Request(base + "/api/login", data=json.dumps({"username": "bench", "password": "quiet-harbour-2026"}).encode(), headers={"content-type": "application/json"})
token = json.load(urllib.request.urlopen(req))["token"]
pg = psycopg2.connect(host="/tmp", port=a.pgport, dbname="bench", user="postgres")
cur = pg.cursor()
cur.execute("select st_x(st_centroid(geom)), st_y(st_centroid(geom)) from buildings tablesample system (0.2) limit 5000")
points = cur.fetchall()
random.seed(1)

def tile(lon, lat, z):
    n = 2 ** z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]

SQL = """with b as (select st_tileenvelope(%s, %s, %s) as env),
 q as (select id, st_asmvtgeom(g3857, b.env, 4096, 64, true) as geom from buildings, b
       where g3857 && st_expand(b.env, (st_xmax(b.env) - st_xmin(b.env)) * 64 / 4096))
 select st_asmvt(q, 'buildings', 4096, 'geom') from q"""

rows = []
all_tiles = []
for z in range(14, 19):
    tiles = list({tile(*random.choice(points), z) for _ in range(a.per_zoom * 3)})[: a.per_zoom]
    all_tiles += tiles
    g_ms, p_ms, g_size = [], [], []
    for (z_, x, y) in tiles:
        t0 = time.perf_counter()
        r = urllib.request.urlopen(urllib.request.Request(f"{base}/tiles/buildings/{z_}/{x}/{y}.mvt", headers={"authorization": f"Bearer {token}"}))
        body = r.read()
        g_ms.append((time.perf_counter() - t0) * 1000)
        g_size.append(len(body))
        t0 = time.perf_counter()
        cur.execute(SQL, (z_, x, y))
        cur.fetchone()
        p_ms.append((time.perf_counter() - t0) * 1000)
    rows.append((z, len(tiles), statistics.median(g_ms), pct(g_ms, 99), statistics.median(p_ms), pct(p_ms, 99), statistics.mean(g_size) / 1024))

print("\n| zoom | tiles | gridmap p50 ms | gridmap p99 ms | PostGIS ST_AsMVT p50 ms | PostGIS p99 ms | p50 ratio | gridmap KiB |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for z, n, gp50, gp99, pp50, pp99, kib in rows:
    print(f"| {z} | {n} | {gp50:.1f} | {gp99:.1f} | {pp50:.1f} | {pp99:.1f} | {pp50 / gp50:.1f}× | {kib:.0f} |")

# Heatmap tiles (coverage: two density passes), uncached by design.
print("\n| zoom | heatmap tiles | coverage PNG p50 ms | p99 ms |")
print("| ---: | ---: | ---: | ---: |")
for z in range(12, 17):
    tiles = list({tile(*random.choice(points), z) for _ in range(120)})[:60]
    ms = []
    for (z_, x, y) in tiles:
        t0 = time.perf_counter()
        urllib.request.urlopen(urllib.request.Request(f"{base}/heatmap/coverage/{z_}/{x}/{y}.png", headers={"authorization": f"Bearer {token}"})).read()
        ms.append((time.perf_counter() - t0) * 1000)
    print(f"| {z} | {len(tiles)} | {statistics.median(ms):.1f} | {pct(ms, 99):.1f} |")

# Cached throughput: the tiles above are now in gridmap's cache.
with open("/tmp/gridmap-wrk.lua", "w") as f:
    f.write("paths = {" + ",".join(f'"/tiles/buildings/{z}/{x}/{y}.mvt"' for z, x, y in all_tiles) + "}\n")
    f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    f.write("request = function() return wrk.format(nil, paths[math.random(#paths)]) end\n")
out = subprocess.run(["wrk", "-t2", "-c64", "-d30s", "-s", "/tmp/gridmap-wrk.lua", base], capture_output=True, text=True).stdout
print("\nwrk -t2 -c64 -d30s over the cached tiles:\n" + out)
