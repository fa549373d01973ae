// The map: MapLibre with this server's own vector tiles as the only basemap (roads, water),
// the grids, buildings coloured by visit status, validation problems, the visit heatmaps, and
// GeoJSON overlays that the editor, the coverage list and the plan comparison fill in.

import * as maplibregl from 'maplibre-gl';
import { authorize } from './api.js';

const origin = location.origin;
const vector = (layer, minzoom = 0) => ({
  type: 'vector', tiles: [`${origin}/tiles/${layer}/{z}/{x}/{y}.mvt`], minzoom, maxzoom: 22,
});
const raster = (kind) => ({
  type: 'raster', tiles: [`${origin}/heatmap/${kind}/{z}/{x}/{y}.png`], tileSize: 256, maxzoom: 22,
});
const empty = () => ({ type: 'geojson', data: { type: 'FeatureCollection', features: [] } });

// Labels are drawn by MapLibre from glyphs this server makes from its CJK font (/fonts/…):
// nothing is fetched from the internet, and the labels give way to each other.
const LABEL_FONT = 'WenQuanYi Micro Hei';
const GLYPHS = `${origin}/fonts/{fontstack}/{range}.pbf`;
// A grid's code, and its name under it, smaller.
const labelText = ['format', ['get', 'code'], {}, '\n', {}, ['coalesce', ['get', 'name'], ''], { 'font-scale': 0.85 }];
const labelLayout = {
  'text-field': labelText, 'text-font': [LABEL_FONT], 'text-size': 12, 'text-line-height': 1.25,
  'symbol-placement': 'point', 'text-max-width': 12,
};

/** Colours of a building's last visit outcome. */
export const VISIT_COLOURS = {
  visited: '#2e9d5b', unvisited: '#d64545', nobody_home: '#e8a33d', refused: '#8e44ad',
  demolished: '#7f8c8d', newly_found: '#3b82f6',
};
const visitColour = ['match', ['get', 'visit'],
  ...Object.entries(VISIT_COLOURS).flat(), '#999999'];

export const HEATMAPS = ['visited', 'unvisited', 'coverage'];

function style() {
  return {
    version: 8,
    glyphs: GLYPHS,
    sources: {
      basemap: vector('basemap', 10),
      // Grids by code, so that each can carry its visit rate as feature state (coverage view).
      grids: { ...vector('grids'), promoteId: { grids: 'code' } },
      buildings: vector('buildings', 14),
      // Below z14, where buildings are too small to draw, cells with their counts (z8–z13).
      overview: { ...vector('overview', 8), maxzoom: 13 },
      problems: vector('problems'),
      ...Object.fromEntries(HEATMAPS.map((k) => [`heat-${k}`, raster(k)])),
      check: empty(), diff: empty(), plan: empty(), focus: empty(), neighbours: empty(),
      // One point inside each grid (labelPoint), for its label: see showGridLabels.
      'grid-labels': empty(),
      // The plan's grids' codes and households, at a point inside each, in the grid's colour.
      'plan-labels': empty(),
    },
    layers: [
      // Beyond the imported basemap the map is this plain land colour, not a hole.
      { id: 'background', type: 'background', paint: { 'background-color': '#f2efe9' } },
      // Land use under everything: green for parks and woods, soft tints for blocks and squares.
      { id: 'landuse', type: 'fill', source: 'basemap', 'source-layer': 'landuse',
        paint: {
          'fill-color': ['match', ['get', 'kind'],
            ['park', 'grass', 'garden', 'forest', 'natural_wood', 'wood', 'recreation_ground', 'pitch', 'protected_area', 'meadow'], '#cde6c4',
            ['residential'], '#ebe6df',
            ['commercial', 'retail'], '#f1e3dc',
            ['school', 'hospital', 'library', 'place_of_worship', 'university'], '#efe0e0',
            ['pedestrian', 'parking', 'pier', 'footway', 'bridge'], '#e6e4e0',
            '#ece9e2'],
          'fill-opacity': 0.9,
        } },
      { id: 'water', type: 'fill', source: 'basemap', 'source-layer': 'water',
        filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#aacbe6' } },
      { id: 'waterways', type: 'line', source: 'basemap', 'source-layer': 'water',
        filter: ['==', ['geometry-type'], 'LineString'], paint: { 'line-color': '#aacbe6', 'line-width': 2 } },
      { id: 'roads-minor', type: 'line', source: 'basemap', 'source-layer': 'roads',
        filter: ['in', ['get', 'kind'], ['literal', ['path', 'minor_road', 'service']]],
        paint: { 'line-color': '#ffffff', 'line-width': ['interpolate', ['linear'], ['zoom'], 14, 0.5, 18, 4] } },
      { id: 'roads-major', type: 'line', source: 'basemap', 'source-layer': 'roads',
        filter: ['!', ['in', ['get', 'kind'], ['literal', ['path', 'minor_road', 'service', 'rail']]]],
        paint: { 'line-color': '#fdfcf8', 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 1, 18, 10] } },
      { id: 'railways', type: 'line', source: 'basemap', 'source-layer': 'roads',
        filter: ['all', ['==', ['get', 'kind'], 'rail'], ['!=', ['get', 'detail'], 'subway']],
        paint: { 'line-color': '#9a9a9a', 'line-width': 1.5, 'line-dasharray': [3, 2] } },
      ...HEATMAPS.map((k) => ({ id: `heat-${k}`, type: 'raster', source: `heat-${k}`,
        layout: { visibility: 'none' }, paint: { 'raster-opacity': 0.75 } })),
      { id: 'grids-fill', type: 'fill', source: 'grids', 'source-layer': 'grids',
        paint: { 'fill-color': '#1a5fb4', 'fill-opacity': 0.06 } },
      // Zoomed out (z8–z13), each grid coloured by its visit rate, as /api/stats gives it.
      { id: 'grids-progress', type: 'fill', source: 'grids', 'source-layer': 'grids',
        minzoom: 8, maxzoom: 14, layout: { visibility: 'none' },
        paint: {
          'fill-color': ['interpolate', ['linear'], ['coalesce', ['feature-state', 'rate'], 0],
            0, '#d73027', 0.5, '#fee08b', 0.8, '#a6d96a', 1, '#1a9850'],
          'fill-opacity': ['case', ['==', ['feature-state', 'rate'], null], 0, 0.45],
        } },
      { id: 'buildings', type: 'fill', source: 'buildings', 'source-layer': 'buildings',
        paint: { 'fill-color': '#b9b2a6', 'fill-outline-color': '#8c857a' } },
      { id: 'overview', type: 'circle', source: 'overview', 'source-layer': 'overview',
        minzoom: 8, maxzoom: 14, layout: { visibility: 'none' },
        paint: {
          // Area by buildings, colour by the visited share of households (red → green).
          'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'buildings']], 1, 2, 30, 12],
          'circle-color': ['interpolate', ['linear'], ['get', 'visited_share'],
            0, '#d73027', 0.5, '#fee08b', 0.8, '#a6d96a', 1, '#1a9850'],
          'circle-opacity': 0.8, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 0.5,
        } },
      { id: 'buildings-moving', type: 'fill', source: 'buildings', 'source-layer': 'buildings',
        filter: ['in', ['get', 'id'], ['literal', []]],
        paint: { 'fill-color': '#ff8c00', 'fill-outline-color': '#7a3e00' } },
      { id: 'buildings-selected', type: 'line', source: 'buildings', 'source-layer': 'buildings',
        filter: ['==', ['get', 'id'], ''], paint: { 'line-color': '#00a3ff', 'line-width': 4 } },
      { id: 'problems', type: 'fill', source: 'problems', 'source-layer': 'problems',
        layout: { visibility: 'none' },
        filter: ['!=', ['geometry-type'], 'Point'],
        paint: { 'fill-color': ['match', ['get', 'kind'], 'overlap', '#e01b24', 'gap', '#ff9900', '#d6336c'],
                 'fill-opacity': 0.45 } },
      { id: 'problems-points', type: 'circle', source: 'problems', 'source-layer': 'problems',
        layout: { visibility: 'none' }, filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-color': '#d6336c', 'circle-radius': 5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 } },
      // The grids next to the user's, drawn read-only while editing so snapping is not blind.
      { id: 'neighbours-line', type: 'line', source: 'neighbours',
        paint: { 'line-color': '#5c6b7a', 'line-width': 1.5, 'line-dasharray': [3, 2] } },
      { id: 'grids-line', type: 'line', source: 'grids', 'source-layer': 'grids',
        paint: { 'line-color': '#1f3b5a', 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 1, 17, 3] } },
      { id: 'grids-selected', type: 'line', source: 'grids', 'source-layer': 'grids',
        filter: ['==', ['get', 'code'], ''], paint: { 'line-color': '#1a5fb4', 'line-width': 5 } },
      { id: 'plan-fill', type: 'fill', source: 'plan',
        paint: { 'fill-color': ['coalesce', ['get', 'colour'], '#6a5acd'], 'fill-opacity': 0.25 } },
      { id: 'plan-line', type: 'line', source: 'plan',
        paint: { 'line-color': '#4b0082', 'line-width': 2.5, 'line-dasharray': [2, 1] } },
      { id: 'diff-fill', type: 'fill', source: 'diff',
        paint: { 'fill-color': ['match', ['get', 'side'], 'a', '#e01b24', '#1a5fb4'], 'fill-opacity': 0.15 } },
      { id: 'diff-line', type: 'line', source: 'diff',
        paint: { 'line-color': ['match', ['get', 'side'], 'a', '#e01b24', '#1a5fb4'], 'line-width': 3 } },
      { id: 'check-fill', type: 'fill', source: 'check',
        paint: { 'fill-color': ['match', ['get', 'kind'], 'overlap', '#e01b24', '#ff9900'], 'fill-opacity': 0.55 } },
      { id: 'check-line', type: 'line', source: 'check',
        paint: { 'line-color': ['match', ['get', 'kind'], 'overlap', '#a50f15', '#b35900'], 'line-width': 2 } },
      { id: 'focus', type: 'line', source: 'focus', paint: { 'line-color': '#000', 'line-width': 3, 'line-dasharray': [1, 1] } },
      // Grid labels from z13: the user's grids, then the neighbours shown while editing, greyed
      // (placed after them, so the user's own labels win where they collide).
      { id: 'grid-labels', type: 'symbol', source: 'grid-labels', minzoom: 13,
        filter: ['!', ['to-boolean', ['get', 'context']]], layout: labelLayout,
        paint: { 'text-color': '#1f3b5a', 'text-halo-color': '#ffffff', 'text-halo-width': 1.5 } },
      { id: 'grid-labels-neighbours', type: 'symbol', source: 'grid-labels', minzoom: 13,
        filter: ['to-boolean', ['get', 'context']], layout: { ...labelLayout, 'text-size': 11 },
        paint: { 'text-color': '#5c6b7a', 'text-opacity': 0.85, 'text-halo-color': '#ffffff', 'text-halo-width': 1.5 } },
      { id: 'plan-labels', type: 'symbol', source: 'plan-labels',
        layout: { ...labelLayout, 'text-field': ['format', ['get', 'code'], {}, '\n', {}, ['get', 'load'], { 'font-scale': 0.85 }], 'text-size': 13 },
        paint: { 'text-color': '#1a1a1a', 'text-halo-color': ['coalesce', ['get', 'colour'], '#ffffff'], 'text-halo-width': 2.5 } },
    ],
  };
}

/** Creates the map in `container`. */
export function createMap(container) {
  const map = new maplibregl.Map({
    container,
    style: style(),
    center: [121.49, 31.235],
    zoom: 14,
    maxZoom: 20,
    attributionControl: { compact: true, customAttribution: '© OpenStreetMap contributors' },
    transformRequest: (url) => authorize(url),
    // Chinese labels come from the server's glyphs too, not the browser's fonts: the same on
    // every machine, and in the map's screenshots and prints.
    localIdeographFontFamily: false,
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  // Empty tiles (204) and tiles outside the town are normal; anything else is worth a line.
  map.on('error', (e) => {
    if (!String(e.error?.message ?? '').includes('204')) console.warn('map:', e.error?.message ?? e);
  });
  return map;
}

export function setVisible(map, layer, on) {
  if (map.getLayer(layer)) map.setLayoutProperty(layer, 'visibility', on ? 'visible' : 'none');
}

export function isVisible(map, layer) {
  return map.getLayoutProperty(layer, 'visibility') !== 'none';
}

/** Colours buildings by their last visit (coverage) or plainly (editing). */
export function colourBuildingsByVisit(map, on) {
  map.setPaintProperty('buildings', 'fill-color', on ? visitColour : '#b9b2a6');
}

export function setOverlay(map, source, features) {
  map.getSource(source)?.setData({ type: 'FeatureCollection', features: features ?? [] });
}

export function highlightBuildings(map, ids) {
  map.setFilter('buildings-moving', ['in', ['get', 'id'], ['literal', ids ?? []]]);
}

/** Outlines the building whose panel is open ('' or null: none). */
export function selectBuilding(map, id) {
  map.setFilter('buildings-selected', ['==', ['get', 'id'], id ?? '']);
}

export function selectGrid(map, code) {
  map.setFilter('grids-selected', ['==', ['get', 'code'], code ?? '']);
}

/** The bounds [[w, s], [e, n]] of GeoJSON geometries (Polygon, MultiPolygon, Point, …). */
export function boundsOf(geometries) {
  let w = Infinity; let s = Infinity; let e = -Infinity; let n = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else c.forEach(visit);
  };
  for (const g of geometries) if (g) visit(g.coordinates);
  return Number.isFinite(w) ? [[w, s], [e, n]] : null;
}

export function fitTo(map, geometries, maxZoom = 18) {
  const b = boundsOf(geometries);
  if (b) map.fitBounds(b, { padding: 40, maxZoom, duration: 0 });
}

/** Waits for the map to finish loading and drawing. */
export function idle(map) {
  return new Promise((resolve) => {
    if (map.loaded() && !map.isMoving() && map.areTilesLoaded()) resolve();
    else map.once('idle', resolve);
  });
}

/** Reloads the vector tiles of `source` (after an edit). */
export function reloadTiles(map, source) {
  const s = map.getSource(source);
  if (s?.setTiles) s.setTiles([...s.tiles]);
}

/** Draws a plan's grids (`features` with `code`, `households`, `colour`) with a label each:
 * its code and households, on a halo of its colour, so the map keys itself. */
export function showPlan(map, features, householdsWord) {
  setOverlay(map, 'plan', features);
  const points = (features ?? []).map((f) => {
    const at = labelPoint(f.geometry);
    return at && { type: 'Feature', geometry: { type: 'Point', coordinates: at },
      properties: { code: f.properties.code, colour: f.properties.colour,
        load: `${Number(f.properties.households ?? 0).toLocaleString()} ${householdsWord}` } };
  }).filter(Boolean);
  setOverlay(map, 'plan-labels', points);
  // Today's grid labels would stand where the plan's go: they give way while a plan is shown.
  setVisible(map, 'grid-labels', !points.length);
}

/** A point inside a polygon's outer ring for its label: the area centroid when it lies inside,
 * else the middle of the widest stretch of the ring's interior on the centroid's latitude. */
export function labelPoint(geometry) {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  const area = (r) => r.reduce((a, c, i) => (i ? a + (r[i - 1][0] * c[1] - c[0] * r[i - 1][1]) : 0), 0) / 2;
  const ring = polys.map((p) => p[0]).sort((a, b) => Math.abs(area(b)) - Math.abs(area(a)))[0];
  if (!ring || ring.length < 4) return null;
  const a = area(ring);
  let cx = 0; let cy = 0;
  for (let i = 1; i < ring.length; i++) {
    const [x0, y0] = ring[i - 1]; const [x1, y1] = ring[i];
    const k = x0 * y1 - x1 * y0;
    cx += (x0 + x1) * k; cy += (y0 + y1) * k;
  }
  cx /= 6 * a; cy /= 6 * a;
  // Crossings of the ring with the line y = cy, in order: inside between pairs.
  const xs = [];
  for (let i = 1; i < ring.length; i++) {
    const [x0, y0] = ring[i - 1]; const [x1, y1] = ring[i];
    if ((y0 <= cy) !== (y1 <= cy)) xs.push(x0 + ((cy - y0) / (y1 - y0)) * (x1 - x0));
  }
  xs.sort((p, q) => p - q);
  let best = null;
  for (let i = 0; i + 1 < xs.length; i += 2) {
    if (xs[i] <= cx && cx <= xs[i + 1]) return [cx, cy];
    if (!best || xs[i + 1] - xs[i] > best[1] - best[0]) best = [xs[i], xs[i + 1]];
  }
  return best ? [(best[0] + best[1]) / 2, cy] : [cx, cy];
}

/** Whether the server has glyphs for the labels (it answers 404 without a CJK font): asked once. */
let glyphsServed = null;
function glyphsAvailable() {
  glyphsServed ??= fetch(GLYPHS.replace('{fontstack}', encodeURIComponent(LABEL_FONT)).replace('{range}', '0-255'))
    .then((r) => r.ok, () => false);
  return glyphsServed;
}

let labels = [];
const labelled = new WeakMap();
/**
 * Labels grids with their code and name from z13, at a point inside each (`labelPoint`); grids
 * with `properties.context` (the neighbours shown while editing) greyed. Drawn by the symbol
 * layers `grid-labels` and `grid-labels-neighbours`; HTML markers when the server has no glyphs.
 */
export function showGridLabels(map, features) {
  const points = [];
  for (const f of features) {
    const at = labelPoint(f.geometry);
    if (!at) continue;
    const { code, name, context } = f.properties;
    points.push({ type: 'Feature', geometry: { type: 'Point', coordinates: at },
      properties: { code, name: name ?? null, context: Boolean(context) } });
  }
  // The last call wins, whichever answer about the glyphs comes first.
  const call = {};
  labelled.set(map, call);
  glyphsAvailable().then((ok) => {
    if (labelled.get(map) !== call) return;
    if (ok) {
      markerLabels(map, []);
      const apply = () => {
        const source = map.getSource('grid-labels');
        if (source) source.setData({ type: 'FeatureCollection', features: points });
        else map.once('styledata', apply);
      };
      apply();
    } else markerLabels(map, points);
  });
}

/** The labels as HTML markers (no collision handling): for a server without glyphs. */
function markerLabels(map, points) {
  for (const m of labels) m.remove();
  labels = [];
  for (const p of points) {
    const div = document.createElement('div');
    div.className = p.properties.context ? 'grid-label neighbour' : 'grid-label';
    div.textContent = p.properties.name ? `${p.properties.code}\n${p.properties.name}` : p.properties.code;
    labels.push(new maplibregl.Marker({ element: div }).setLngLat(p.geometry.coordinates).addTo(map));
  }
  const toggle = () => { for (const m of labels) m.getElement().hidden = map.getZoom() < 13; };
  map.off('zoomend', markerLabels.toggle ?? (() => {}));
  markerLabels.toggle = toggle;
  map.on('zoomend', toggle);
  toggle();
}
