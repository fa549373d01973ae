// The supervisor's coverage view: buildings coloured by their last visit, the heatmaps of
// visited and unvisited households and of coverage, the uncovered blocks and buildings in no
// grid as a list that zooms to each, and the validation problems as a layer and a table
// (type, grids, area, buildings, zoom-to), like the QGIS topology checker's error table.

import { get, post } from './api.js';
import { printMap } from './print.js';
import { num, pct, t } from './i18n.js';
import { el } from './dom.js';
import {
  HEATMAPS, VISIT_COLOURS, colourBuildingsByVisit, highlightBuildings, isVisible, reloadTiles, setOverlay, setVisible,
} from './mapview.js';

const BASEMAP_LAYERS = ['landuse', 'water', 'waterways', 'roads-minor', 'roads-major', 'railways'];

export class Coverage {
  constructor(app, panel) {
    this.app = app;
    this.panel = panel;
    this.map = app.map;
    this.legends = {};
  }

  enter() {
    colourBuildingsByVisit(this.map, true);
    // Zoomed out to the district, buildings are cells with their visited share.
    setVisible(this.map, 'overview', true);
    setVisible(this.map, 'grids-progress', true);
    this.loadProgress();
    setVisible(this.map, 'problems', true);
    setVisible(this.map, 'problems-points', true);
    this.render();
  }

  leave() {
    for (const k of HEATMAPS) setVisible(this.map, `heat-${k}`, false);
    setVisible(this.map, 'problems', false);
    setVisible(this.map, 'problems-points', false);
    setVisible(this.map, 'overview', false);
    setVisible(this.map, 'grids-progress', false);
    for (const l of BASEMAP_LAYERS) setVisible(this.map, l, true);
    setVisible(this.map, 'buildings', true);
    colourBuildingsByVisit(this.map, false);
    setOverlay(this.map, 'focus', []);
    setOverlay(this.map, 'diff', []);
    highlightBuildings(this.map, []);
    document.querySelector('#legend').hidden = true;
  }

  toggle(id, label, layers, after) {
    const input = el('input', {
      type: 'checkbox', id: `toggle-${id}`, checked: layers.every((l) => isVisible(this.map, l)),
      onchange: (e) => { for (const l of layers) setVisible(this.map, l, e.target.checked); after?.(); },
    });
    return el('label', {}, input, ' ', label);
  }

  render() {
    this.panel.replaceChildren(
      el('div', { class: 'row' }, el('h2', {}, t('layers')), el('span', { style: 'flex:1' }),
        el('button', { id: 'print-map', onclick: () => printMap(this.app, t('print_title', { town: this.app.me.town_name ?? '' })) }, t('print_map'))),
      el('div', { class: 'toggles' },
        this.toggle('basemap', t('basemap'), BASEMAP_LAYERS),
        this.toggle('buildings', t('buildings_by_visit'), ['buildings', 'overview'], () => this.showLegend()),
        ...HEATMAPS.map((k) => this.toggle(`heat-${k}`, t(`heat_${k}`), [`heat-${k}`], () => this.showLegend())),
        this.toggle('problems', t('problems_layer'), ['problems', 'problems-points'])),
      el('h3', {}, t('uncovered')),
      el('div', { id: 'uncovered' }, t('loading')),
      el('h3', {}, t('tasks')),
      el('div', { id: 'tasks' }, t('loading')),
      el('h3', {}, t('problems')),
      el('div', { id: 'problems' }, t('loading')),
    );
    this.showLegend();
    this.loadUncovered();
    this.loadTasks();
    this.loadProblems();
  }

  /** Each grid's visit rate on the map (z8–z13), from the statistics table. */
  async loadProgress() {
    let stats;
    try {
      stats = await get('/api/stats?by=grid');
    } catch {
      return; // the map without colours; the table says why
    }
    for (const r of stats.rows) {
      this.map.setFeatureState({ source: 'grids', sourceLayer: 'grids', id: r.grid }, { rate: r.visit_rate });
    }
  }

  /** The addresses a police reconciliation asks the grid to check; field roles mark them done. */
  async loadTasks() {
    const box = this.panel.querySelector('#tasks');
    let list;
    try {
      list = (await get('/api/tasks')).tasks;
    } catch (e) {
      box.replaceChildren(el('p', { class: 'muted' }, t('error', { msg: e.message })));
      return;
    }
    const field = this.app.me.capabilities.includes('record_visits');
    box.replaceChildren(list.length ? el('table', { id: 'tasks-table' },
      el('tr', {}, el('th', {}, t('grid')), el('th', {}, t('address')), el('th', {})),
      ...list.map((task) => el('tr', { 'data-task': task.id },
        el('td', {}, task.grid ?? '–'), el('td', {}, task.address ?? '–'),
        el('td', {}, field ? el('button', {
          class: 'link',
          onclick: async () => {
            try { await post(`/api/tasks/${task.id}/done`); this.loadTasks(); } catch (e) { box.append(el('p', { class: 'error' }, t('error', { msg: e.message }))); }
          },
        }, t('task_done')) : ''))))
      : el('p', { class: 'muted' }, t('tasks_none')));
  }

  /** The legend of the buildings' colours and of each heatmap shown. */
  async showLegend() {
    const box = document.querySelector('#legend');
    const parts = [];
    if (isVisible(this.map, 'buildings')) {
      parts.push(el('div', {}, ...Object.entries(VISIT_COLOURS).map(([k, c]) => el('span', { style: 'margin-right:8px' },
        el('span', { class: 'swatch', style: `background:${c}` }), t(`visit_${k}`)))));
    }
    for (const k of HEATMAPS) {
      if (!isVisible(this.map, `heat-${k}`)) continue;
      this.legends[k] ??= await get(`/heatmap/${k}/legend.json`).catch(() => null);
      const l = this.legends[k];
      if (!l) continue;
      // The bar with its numbers: each stop at its place along the scale; a share in percent,
      // a density in households (the last stop and above).
      const lo = l.stops[0].value; const hi = l.stops[l.stops.length - 1].value;
      const share = hi <= 1;
      const at = (v) => (hi > lo ? ((v - lo) / (hi - lo)) * 100 : 0);
      const stops = l.stops.map((s) => `${s.color} ${at(s.value).toFixed(1)}%`).join(', ');
      const label = (v, last) => (share ? pct(v, 0) : `${num(v)}${last ? '+' : ''}`);
      parts.push(el('div', { class: `legend-${k}` }, t(`heat_${k}`),
        el('div', { class: 'bar', style: `background:linear-gradient(to right, ${stops})` }),
        el('div', { class: 'ticks' }, ...l.stops.map((s, i) => el('span', { style: `left:${at(s.value)}%` }, label(s.value, i === l.stops.length - 1)))),
        el('div', { class: 'muted unit' }, t(share ? 'legend_share' : 'legend_households'))));
    }
    box.replaceChildren(...parts);
    box.hidden = parts.length === 0;
  }

  zoomTo(geometry, bbox, point) {
    if (bbox) this.map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 60, maxZoom: 18, duration: 0 });
    else if (point) this.map.jumpTo({ center: point, zoom: 18 });
    setOverlay(this.map, 'focus', geometry ? [{ type: 'Feature', geometry, properties: {} }] : []);
  }

  async loadUncovered() {
    const box = this.panel.querySelector('#uncovered');
    try {
      const fc = await get('/api/uncovered');
      // Buildings visited from this page since the list was made are taken out of it.
      const done = this.app.visitedNow;
      for (const f of fc.features) {
        const ids = f.properties.building_ids ?? [];
        const gone = ids.filter((id) => done.has(id));
        if (!gone.length) continue;
        f.properties.building_ids = ids.filter((id) => !done.has(id));
        f.properties.buildings -= gone.length;
        f.properties.households -= gone.reduce((a, id) => a + done.get(id), 0);
      }
      fc.features = fc.features.filter((f) => f.properties.buildings > 0);
      const rows = fc.features.map((f, i) => {
        const p = f.properties;
        const ring = f.geometry.coordinates[0];
        const xs = ring.map((c) => c[0]); const ys = ring.map((c) => c[1]);
        const bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
        // Where: the grid (unvisited blocks never span grids) or the village, by name.
        const where = [p.village_name ?? p.village, p.grid_name ?? p.grid].filter(Boolean).join(' · ');
        return el('tr', { class: 'clickable', 'data-i': i, tabindex: 0, onclick: () => this.zoomTo(f.geometry, bbox),
          onkeydown: (e) => { if (e.key === 'Enter') this.zoomTo(f.geometry, bbox); } },
          el('td', {}, t(`kind_${p.kind}`)), el('td', { class: 'where', title: [p.village, p.grid].filter(Boolean).join(' · ') }, where || '–'),
          el('td', { class: 'num' }, num(p.buildings)),
          el('td', { class: 'num' }, num(p.households)), el('td', {}, el('button', { class: 'link' }, t('zoom_to'))));
      });
      box.replaceChildren(rows.length ? el('table', { id: 'uncovered-table' },
        el('tr', {}, el('th', {}, t('type')), el('th', {}, t('where')), el('th', { class: 'num' }, t('buildings')), el('th', { class: 'num' }, t('households')), el('th', {})),
        ...rows) : el('p', { class: 'muted' }, t('none')));
    } catch (e) {
      box.textContent = t('error', { msg: e.message });
    }
  }

  /** Shows what repairing `village`'s grids would change: each grid before (red) and after
   * (blue) on the map, the buildings that would change grid highlighted and listed, what is
   * left for a human; then applies it with a reason. */
  async previewRepair(village) {
    const box = this.panel.querySelector('#repair');
    box.replaceChildren(el('p', {}, t('loading')));
    let preview;
    try {
      preview = await post('/api/repair', { village });
    } catch (e) {
      box.replaceChildren(el('p', { class: 'error' }, t('error', { msg: e.message })));
      return;
    }
    const r = preview.report;
    setOverlay(this.map, 'diff', preview.grids.features.map((f) => ({ ...f, properties: { ...f.properties, side: f.properties.side === 'before' ? 'a' : 'b' } })));
    highlightBuildings(this.map, r.moved_buildings.map((m) => m.building));
    const change = (c) => {
      switch (c.kind) {
        case 'overlap': return t('repair_overlap', { from: c.from, to: c.to, area: num(c.area_m2, 1) });
        case 'gap': return t('repair_gap', { to: c.to, area: num(c.area_m2, 1) });
        case 'fragment': return t('repair_fragment', { from: c.from, to: c.to, area: num(c.area_m2, 1) });
        case 'snapped': return t('repair_snapped', { grid: c.grid, n: (c.moved ?? 0) + (c.inserted ?? 0) });
        case 'clipped': return t('repair_clipped', { grid: c.grid, area: num(c.area_m2, 1) });
        case 'made_valid': return t('repair_made_valid', { grid: c.grid });
        default: return t('repair_other', { grid: c.grid ?? c.to ?? '' });
      }
    };
    const reason = el('input', { id: 'repair-reason', size: 24 });
    const result = el('div', { id: 'repair-result', role: 'status' });
    const apply = async () => {
      const why = reason.value.trim();
      if (!why) { result.className = 'error'; result.textContent = t('reason_required'); reason.focus(); return; }
      try {
        const done = await post('/api/repair/apply', { village, versions: preview.versions, reason: why });
        this.app.grids = await get('/api/grids');
        for (const l of ['grids', 'buildings', 'problems']) reloadTiles(this.map, l);
        setOverlay(this.map, 'diff', []);
        highlightBuildings(this.map, []);
        await this.loadProblems();
        this.panel.querySelector('#repair')?.replaceChildren(el('p', { class: 'ok', id: 'repair-applied' },
          t('repair_applied', { n: Object.keys(done.saved).length })));
      } catch (e) {
        result.className = 'error';
        result.textContent = t('save_failed', { msg: e.message });
      }
    };
    const nothing = !r.changes.length;
    box.replaceChildren(
      el('h3', {}, t('repair_title', { v: village })),
      el('ul', { id: 'repair-changes' }, ...r.changes.map((c) => el('li', {}, change(c)))),
      nothing ? el('p', { class: 'muted' }, t('repair_nothing')) : '',
      el('p', {}, t('repair_moves', { n: r.moved_buildings.length, h: num(r.summary.households_moved ?? 0) })),
      el('ul', { id: 'repair-moved' }, ...r.moved_buildings.slice(0, 100).map((m) => el('li', {}, t('from_to', { b: m.building, from: (m.from ?? []).join('、') || t('none'), to: (m.to ?? []).join('、') || t('none') })))),
      // What is left, worded from its figures (the server's `why` is English).
      r.left.length ? el('div', { class: 'warn', id: 'repair-left' }, t('repair_left'), el('ul', {}, ...r.left.map((l) => el('li', {},
        t('repair_left_item', { what: t(`left_${l.kind}`), grids: (l.grids ?? []).join('、'), area: num(l.area_m2 ?? 0, 1), n: (l.buildings ?? []).length }))))) : '',
      nothing ? '' : el('label', { class: 'row' }, t('reason'), reason),
      nothing ? '' : el('div', { class: 'row' }, el('button', { id: 'repair-apply', class: 'primary', onclick: apply }, t('repair_apply')),
        el('button', { onclick: () => { box.replaceChildren(); setOverlay(this.map, 'diff', []); highlightBuildings(this.map, []); } }, t('cancel'))),
      result,
    );
    box.scrollIntoView({ block: 'start' });
  }

  async loadProblems() {
    const box = this.panel.querySelector('#problems');
    try {
      const { problems } = await get('/api/problems');
      const rows = problems.map((p) => el('tr', { class: 'clickable', 'data-id': p.id, onclick: () => this.zoomTo(null, p.bbox, p.point) },
        el('td', {}, t(`type_${p.type}`)), el('td', {}, (p.grids ?? []).join('、')),
        el('td', { class: 'num' }, p.area_m2 == null ? '–' : num(p.area_m2, 1)), el('td', { class: 'num' }, num(p.buildings)),
        el('td', {}, el('button', { class: 'link' }, t('zoom_to')))));
      // Repair is offered per village with problems, to the roles that may redraw its grids.
      const villageOf = (code) => this.app.grids.features.find((f) => f.properties.code === code)?.properties.village;
      const villages = [...new Set(problems.flatMap((p) => (p.grids ?? []).map(villageOf)).filter(Boolean))].sort();
      const mine = this.app.me.reach === 'village' ? villages.filter((v) => v === this.app.me.scope) : villages;
      const repairs = this.app.me.capabilities.includes('create_grids') && mine.length
        ? el('div', { class: 'row', id: 'repair-offers' }, ...mine.map((v) => el('button', { class: 'repair', 'data-village': v, onclick: () => this.previewRepair(v) }, t('repair_village', { v }))))
        : '';
      box.replaceChildren(rows.length ? el('table', { id: 'problems-table' },
        el('tr', {}, el('th', {}, t('type')), el('th', {}, t('grids')), el('th', { class: 'num' }, t('area_m2')), el('th', { class: 'num' }, t('buildings')), el('th', {})),
        ...rows) : el('p', { class: 'muted' }, t('no_problems')), repairs, el('div', { id: 'repair' }));
    } catch (e) {
      box.textContent = t('error', { msg: e.message });
    }
  }
}
