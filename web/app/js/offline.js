// Ready for the field without a network: the service worker, and a grid worker's own grid
// kept at z15–18 (basemap, grids and buildings tiles), fetched once online.

import { authorize } from './api.js';

const TILES = 'gridmap-tiles-v1';
const LAYERS = ['basemap', 'grids', 'buildings'];

/** Registers the service worker (`/sw.js`); a browser without one simply has no offline use. */
export async function registerWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    return await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  } catch {
    return null;
  }
}

/** Tile x/y of lon/lat at zoom z (Web Mercator). */
function tileOf(lon, lat, z) {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const r = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  return [Math.min(Math.max(x, 0), n - 1), Math.min(Math.max(y, 0), n - 1)];
}

/** The tile URLs covering `bounds` [[w, s], [e, n]] at zooms z0..z1 for every layer kept. */
export function tileUrls(bounds, z0 = 15, z1 = 18) {
  const [[w, s], [e, n]] = bounds;
  const urls = [];
  for (let z = z0; z <= z1; z++) {
    const [x0, y0] = tileOf(w, n, z);
    const [x1, y1] = tileOf(e, s, z);
    for (let x = x0; x <= x1; x++) {
      for (let y = y0; y <= y1; y++) {
        for (const l of LAYERS) urls.push(`${location.origin}/tiles/${l}/${z}/${x}/${y}.mvt`);
      }
    }
  }
  return urls;
}

/** Keeps the tiles of `bounds` in the tile cache (at most 600 of them); answers how many. */
export async function keepArea(bounds) {
  if (!('caches' in globalThis)) return 0;
  const cache = await caches.open(TILES);
  let kept = 0;
  for (const url of tileUrls(bounds).slice(0, 600)) {
    const { headers } = authorize(url);
    try {
      const res = await fetch(url, { headers });
      if (res.status === 200) { await cache.put(url, res); kept += 1; }
    } catch { break; }
  }
  return kept;
}

/** Forgets what the last user's session kept (their tiles, who they were). */
export async function forget() {
  if (!('caches' in globalThis)) return;
  await caches.delete(TILES);
  const app = await caches.open('gridmap-app-v1');
  await Promise.all(['/api/me', '/api/grids'].map((u) => app.delete(u, { ignoreSearch: true })));
}
