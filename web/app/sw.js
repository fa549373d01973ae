// gridmap's service worker: the app works without a network once it has been opened online.
//
// - The app itself (HTML, modules, styles, vendored MapLibre and terra-draw) is answered from
//   the network when there is one, from the cache otherwise, so an update is picked up at once.
// - Map tiles are answered from the network and kept; offline, the kept copy answers. The app
//   fills this cache ahead of time with a grid worker's own grid at z15–18 (js/offline.js).
// - `/api/me` and `/api/grids` (no personal data) are kept the same way, so the app starts
//   offline. Nothing else of the API is kept: personal data never goes into a cache.
// Visits recorded offline are not the worker's business: the page queues them in IndexedDB
// and sends them itself (js/outbox.js).

const APP = 'gridmap-app-v1';
const TILES = 'gridmap-tiles-v1';
const SHELL = [
  '/', '/index.html', '/style.css', '/manifest.webmanifest', '/icon.svg',
  '/js/main.js', '/js/api.js', '/js/i18n.js', '/js/dom.js', '/js/mapview.js', '/js/editor.js',
  '/js/coverage.js', '/js/dashboard.js', '/js/plans.js', '/js/building.js', '/js/outbox.js',
  '/js/offline.js', '/js/reviews.js',
  '/vendor/maplibre-gl/maplibre-gl.mjs', '/vendor/maplibre-gl/maplibre-gl.css',
  '/vendor/terra-draw/terra-draw.module.js',
  '/vendor/terra-draw-maplibre-gl-adapter/terra-draw-maplibre-gl-adapter.module.js',
];

self.addEventListener('install', (event) => {
  // A file that cannot be fetched does not stop the others from being kept.
  event.waitUntil(caches.open(APP).then((c) => Promise.all(SHELL.map((u) => c.add(u).catch(() => {}))))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

/** Which cache keeps the answer to `url`, or null for none. */
function cacheFor(url) {
  if (url.origin !== self.location.origin) return null;
  const p = url.pathname;
  if (p.startsWith('/tiles/') || p.startsWith('/heatmap/')) return TILES;
  if (p === '/api/me' || p === '/api/grids') return APP;
  if (p.startsWith('/api/') || p.startsWith('/ogc') || p.startsWith('/collections')) return null;
  // The public self-report pages of QR door plates are not the app's.
  if (p.startsWith('/r/')) return null;
  return APP;
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  const name = cacheFor(url);
  if (!name) return;
  event.respondWith((async () => {
    const cache = await caches.open(name);
    try {
      const res = await fetch(req);
      if (res.ok && res.status === 200) cache.put(req, res.clone()).catch(() => {});
      return res;
    } catch (offline) {
      const kept = await cache.match(req, { ignoreVary: true })
        ?? (url.pathname === '/' ? await cache.match('/index.html') : undefined);
      if (kept) return kept;
      throw offline;
    }
  })());
});
