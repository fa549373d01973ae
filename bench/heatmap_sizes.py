#!/usr/bin/env python3
"""Mean size of served heatmap tiles, for docs/benchmarks.md ("Session 19").

Asks a running server for 600 heatmap tiles (zoom 8-18 and kind at random, positions uniform
in BBOX, seed 2) over one keep-alive connection and prints how many were drawn and their
mean size in bytes.

    bench/heatmap_sizes.py PORT TOKEN MINX,MINY,MAXX,MAXY
"""
import http.client
import math
import random
import sys


def tile_of(lon, lat, z):
    n = 2 ** z
    r = math.radians(lat)
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
    return x, y


def main():
    port, token, bbox = int(sys.argv[1]), sys.argv[2], [float(v) for v in sys.argv[3].split(",")]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rng = random.Random(2)
    total = drawn = 0
    for _ in range(600):
        z = rng.randint(8, 18)
        x, y = tile_of(rng.uniform(bbox[0], bbox[2]), rng.uniform(bbox[1], bbox[3]), z)
        kind = rng.choice(["visited", "unvisited", "coverage"])
        conn.request("GET", f"/heatmap/{kind}/{z}/{x}/{y}.png",
                     headers={"authorization": "Bearer " + token})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 200:
            total += len(body)
            drawn += 1
    print(f"tiles {drawn} mean bytes {total // max(drawn, 1)}")


if __name__ == "__main__":
    main()
