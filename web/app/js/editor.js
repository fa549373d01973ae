// Grid editing for grid leaders (and the roles above them): draw a new grid or drag the
// vertices of an existing one, snapping to the neighbouring grids' vertices and edges; every
// change is checked by POST /api/validate and the overlaps, gaps and buildings that would
// change grid are shown before saving. Saving needs a reason and the version edited
// (If-Match): a newer version saved by someone else is explained and the edit kept.

import { TerraDraw, TerraDrawPolygonMode, TerraDrawSelectMode } from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';
import { ApiError, call, get, post } from './api.js';
import { num, t } from './i18n.js';
import { el } from './dom.js';
import {
  colourBuildingsByVisit, fitTo, highlightBuildings, reloadTiles, selectGrid, setOverlay, setVisible, showGridLabels,
} from './mapview.js';

const SNAP_VERTEX_PX = 12;
const SNAP_EDGE_PX = 8;
/** Vertices this close (degrees, ~1 mm) to a neighbour's vertex are set to it exactly. */
const SAME_VERTEX_DEG = 1e-8;

export class Editor {
  constructor(app, panel) {
    this.app = app;
    this.panel = panel;
    this.map = app.map;
    this.draw = null;
    this.edit = null; // {code, version, village, name, isNew, featureId, undo: [geometry]}
    this.targets = []; // neighbouring grids' rings, for snapping
    this.checkTimer = null;
    this.checkSeq = 0;
  }

  canEdit() { return this.app.me.capabilities.includes('edit_grids'); }

  /** Whether clicks on the map belong to the editor right now. */
  busy() { return this.edit !== null; }

  enter() {
    colourBuildingsByVisit(this.map, false);
    setVisible(this.map, 'problems', false);
    setVisible(this.map, 'problems-points', false);
    this.renderList();
  }

  leave() {
    this.stopEditing();
    setOverlay(this.map, 'diff', []);
    selectGrid(this.map, null);
  }

  // ---- the list of grids and one grid's page -------------------------------------------

  renderList() {
    const grids = this.app.grids.features;
    this.panel.replaceChildren(
      el('h2', {}, t('grids_in_scope')),
      this.canEdit()
        ? el('div', { class: 'row' }, el('button', { id: 'draw-new', onclick: () => this.startNew() }, t('draw_new')))
        : el('p', { class: 'muted' }, t('no_edit_right')),
      el('table', { id: 'grid-list' },
        el('tr', {}, el('th', {}, t('grid')), el('th', {}, t('village')), el('th', { class: 'num' }, t('version'))),
        ...grids.map((f) => el('tr', { class: 'clickable', 'data-code': f.properties.code, onclick: () => this.showGrid(f.properties.code) },
          el('td', {}, `${f.properties.code} ${f.properties.name ?? ''}`),
          el('td', {}, f.properties.village ?? ''),
          el('td', { class: 'num' }, String(f.properties.version))))),
    );
  }

  gridFeature(code) { return this.app.grids.features.find((f) => f.properties.code === code); }

  async showGrid(code) {
    const f = this.gridFeature(code);
    if (!f) return;
    selectGrid(this.map, code);
    fitTo(this.map, [f.geometry]);
    const history = await get(`/api/grids/${encodeURIComponent(code)}/history`).catch(() => ({ versions: [] }));
    const versions = history.versions ?? [];
    this.panel.replaceChildren(
      el('div', { class: 'row' }, el('button', { class: 'link', onclick: () => { selectGrid(this.map, null); setOverlay(this.map, 'diff', []); this.renderList(); } }, '←'),
        el('h2', {}, `${t('grid')} ${code} ${f.properties.name ?? ''}`)),
      el('p', {}, `${t('village')}: ${f.properties.village ?? '–'} · ${t('version')} ${f.properties.version}`),
      this.canEdit() ? el('div', { class: 'row' }, el('button', { id: 'edit-shape', class: 'primary', onclick: () => this.startEdit(code) }, t('edit_shape'))) : '',
      el('h3', {}, t('history')),
      el('table', { id: 'history' },
        el('tr', {}, el('th', {}, 'A'), el('th', {}, 'B'), el('th', {}, t('version')), el('th', {}, t('at')), el('th', {}, t('who')), el('th', {}, t('why'))),
        ...versions.map((v, i) => el('tr', {},
          el('td', {}, el('input', { type: 'radio', name: 'va', value: v.version, checked: i === 1 || (versions.length === 1 && i === 0) })),
          el('td', {}, el('input', { type: 'radio', name: 'vb', value: v.version, checked: i === 0 })),
          el('td', { class: 'num' }, String(v.version)), el('td', {}, v.at ?? ''), el('td', {}, v.who ?? ''),
          el('td', {}, `${v.action ? `${t(`action_${v.action}`)}: ` : ''}${v.why ?? ''}`)))),
      versions.length > 1 ? el('div', { class: 'row' }, el('button', { id: 'diff', onclick: () => this.diff(code) }, t('diff')), el('span', { id: 'diff-legend', class: 'muted' })) : '',
    );
  }

  /** Draws two versions of a grid over each other: A in red, B in blue. */
  async diff(code) {
    const a = this.panel.querySelector('input[name=va]:checked')?.value;
    const b = this.panel.querySelector('input[name=vb]:checked')?.value;
    if (!a || !b) return;
    const [fa, fb] = await Promise.all([a, b].map((v) => get(`/api/grids/${encodeURIComponent(code)}/versions/${v}`)));
    // A deletion has no geometry: only the other side is drawn.
    setOverlay(this.map, 'diff', [
      { ...fa, properties: { ...fa.properties, side: 'a' } },
      { ...fb, properties: { ...fb.properties, side: 'b' } },
    ].filter((f) => f.geometry));
    fitTo(this.map, [fa.geometry, fb.geometry]);
    this.panel.querySelector('#diff-legend').textContent = t('diff_legend', { a, b });
  }

  // ---- drawing and reshaping ------------------------------------------------------------

  ensureDraw() {
    if (this.draw) return this.draw;
    const snapping = { toCustom: (event) => this.snap(event) };
    this.draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map: this.map }),
      modes: [
        new TerraDrawPolygonMode({ snapping }),
        new TerraDrawSelectMode({
          flags: {
            polygon: {
              feature: {
                draggable: false,
                coordinates: { draggable: true, midpoints: true, deletable: true, snappable: snapping },
              },
            },
          },
        }),
      ],
    });
    this.draw.start();
    this.draw.on('change', (ids, type) => {
      if (this.edit && this.edit.featureId !== null && ids.includes(this.edit.featureId) && type !== 'delete') this.scheduleCheck();
    });
    this.draw.on('finish', (id, context) => this.onFinish(id, context));
    this.app.draw = this.draw;
    return this.draw;
  }

  /** Loads the grids that may be snapped to: every grid the server shows, with neighbours. */
  async loadTargets(except) {
    const fc = await get('/api/grids?context=1').catch(() => this.app.grids);
    this.targets = [];
    for (const f of fc.features) {
      if (f.properties.code === except) continue;
      const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const p of polys) for (const ring of p) this.targets.push(ring);
    }
  }

  /** The nearest neighbour vertex within 12 px, else the nearest point on an edge within 8 px. */
  snap(event) {
    const m = this.map;
    const here = [event.containerX, event.containerY];
    let best = null;
    let bestD = SNAP_VERTEX_PX;
    for (const ring of this.targets) {
      for (const c of ring) {
        const p = m.project(c);
        const d = Math.hypot(p.x - here[0], p.y - here[1]);
        if (d < bestD) { bestD = d; best = c; }
      }
    }
    if (best) return [best[0], best[1]];
    bestD = SNAP_EDGE_PX;
    for (const ring of this.targets) {
      for (let i = 0; i + 1 < ring.length; i++) {
        const a = m.project(ring[i]);
        const b = m.project(ring[i + 1]);
        const dx = b.x - a.x; const dy = b.y - a.y;
        const len2 = dx * dx + dy * dy;
        if (len2 === 0) continue;
        const s = Math.max(0, Math.min(1, ((here[0] - a.x) * dx + (here[1] - a.y) * dy) / len2));
        const d = Math.hypot(a.x + s * dx - here[0], a.y + s * dy - here[1]);
        if (d < bestD) {
          bestD = d;
          // Interpolate in lon/lat so the point lies on the neighbour's edge.
          const [x0, y0] = ring[i]; const [x1, y1] = ring[i + 1];
          best = [x0 + s * (x1 - x0), y0 + s * (y1 - y0)];
        }
      }
    }
    return best ?? undefined;
  }

  /** Sets vertices within ~1 mm of a neighbour's vertex to that vertex exactly, so shared
   * boundaries match bit for bit (the drawing library rounds coordinates). */
  exact(geometry) {
    const fix = (c) => {
      for (const ring of this.targets) {
        for (const v of ring) {
          if (Math.abs(v[0] - c[0]) < SAME_VERTEX_DEG && Math.abs(v[1] - c[1]) < SAME_VERTEX_DEG) return [v[0], v[1]];
        }
      }
      return c;
    };
    return { type: 'Polygon', coordinates: geometry.coordinates.map((ring) => ring.map(fix)) };
  }

  suggestCode() {
    const codes = this.app.grids.features.map((f) => f.properties.code);
    const village = this.app.grids.features[0]?.properties.village ?? this.app.me.scope;
    for (let i = 1; i < 100; i++) {
      const c = `${village}-${String(i).padStart(2, '0')}`;
      if (!codes.includes(c)) return c;
    }
    return `${village}-new`;
  }

  async startNew() {
    this.stopEditing();
    await this.loadTargets(null);
    const village = this.app.grids.features[0]?.properties.village ?? null;
    this.edit = { code: this.suggestCode(), version: null, village, name: null, isNew: true, featureId: null, undo: [], rest: [] };
    this.ensureDraw().setMode('polygon');
    this.renderEditPanel(t('drawing_hint'));
  }

  async startEdit(code) {
    this.stopEditing();
    const { body: f, headers } = await call('GET', `/api/grids/${encodeURIComponent(code)}`);
    const version = Number((headers.get('ETag') ?? `"${f.properties.version}"`).replaceAll('"', ''));
    await this.loadTargets(code);
    // A grid of several parts: its largest part is edited, the others kept as they are.
    const parts = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
    parts.sort((a, b) => b[0].length - a[0].length);
    const [main, ...rest] = parts;
    const draw = this.ensureDraw();
    draw.setMode('select');
    const [added] = draw.addFeatures([{ type: 'Feature', geometry: { type: 'Polygon', coordinates: main }, properties: { mode: 'polygon' } }]);
    if (!added?.valid) {
      this.renderEditPanel(t('check_invalid', { why: added?.reason ?? '?' }));
      return;
    }
    this.edit = { code, version, village: f.properties.village, name: f.properties.name, isNew: false, featureId: added.id, undo: [], rest };
    draw.selectFeature(added.id);
    this.lastGeometry = this.currentGeometry();
    this.renderEditPanel(t('editing_hint'));
    this.check();
  }

  stopEditing() {
    clearTimeout(this.checkTimer);
    if (this.draw) {
      this.draw.clear();
      this.draw.setMode('select');
    }
    this.edit = null;
    setOverlay(this.map, 'check', []);
    highlightBuildings(this.map, []);
  }

  onFinish(id, context) {
    if (!this.edit) return;
    if (this.edit.isNew && this.edit.featureId === null && context?.mode === 'polygon') {
      this.edit.featureId = id;
      this.draw.setMode('select');
      this.draw.selectFeature(id);
      this.lastGeometry = this.currentGeometry();
      this.panel.querySelector('#hint').textContent = t('editing_hint');
      this.check();
    } else if (id === this.edit.featureId) {
      // A vertex drag ended: remember the shape before it for undo.
      if (this.lastGeometry) this.edit.undo.push(this.lastGeometry);
      this.lastGeometry = this.currentGeometry();
      this.updateUndo();
      this.check();
    }
  }

  currentGeometry() {
    const f = this.edit?.featureId != null ? this.draw.getSnapshotFeature(this.edit.featureId) : null;
    return f ? structuredClone(f.geometry) : null;
  }

  undo() {
    const g = this.edit?.undo.pop();
    if (!g) return;
    this.draw.updateFeatureGeometry(this.edit.featureId, g);
    this.lastGeometry = structuredClone(g);
    this.updateUndo();
    this.check();
  }

  updateUndo() {
    const b = this.panel.querySelector('#undo');
    if (b) b.disabled = !this.edit?.undo.length;
  }

  /** The edited grid as a GeoJSON Feature, with its other parts put back. */
  candidate() {
    const g = this.currentGeometry();
    if (!g) return null;
    const exact = this.exact(g);
    const geometry = this.edit.rest.length
      ? { type: 'MultiPolygon', coordinates: [exact.coordinates, ...this.edit.rest] }
      : exact;
    const code = this.edit.isNew ? (this.panel.querySelector('#new-code')?.value.trim() || this.edit.code) : this.edit.code;
    return { type: 'Feature', properties: { code, name: this.edit.name, village: this.edit.village }, geometry };
  }

  renderEditPanel(hint) {
    const e = this.edit;
    this.panel.replaceChildren(
      el('h2', {}, e?.isNew ? t('draw_new') : `${t('edit_shape')} ${e?.code ?? ''}`),
      e?.isNew ? el('label', { class: 'row' }, t('new_code'), el('input', { id: 'new-code', value: e.code })) : '',
      el('p', { id: 'hint', class: 'muted' }, hint),
      el('div', { id: 'verdict', class: 'verdict info' }, e?.featureId == null ? '' : t('checking')),
      el('div', { id: 'moving' }),
      el('label', { class: 'row' }, t('reason'), el('input', { id: 'reason', size: 28 })),
      el('div', { class: 'row' },
        el('button', { id: 'undo', onclick: () => this.undo(), disabled: true }, t('undo')),
        el('button', { id: 'save', class: 'primary', onclick: () => this.save(false) }, t('save')),
        el('button', { id: 'cancel', onclick: () => { this.stopEditing(); e?.isNew ? this.renderList() : this.showGrid(e.code); } }, t('cancel'))),
      el('div', { id: 'save-result', role: 'status' }),
    );
  }

  scheduleCheck() {
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => this.check(), 250);
  }

  /** Asks the server what saving the current shape would do, and shows it. */
  async check() {
    const feature = this.candidate();
    if (!feature) return;
    const seq = ++this.checkSeq;
    const box = this.panel.querySelector('#verdict');
    try {
      const v = await post('/api/validate', { feature });
      if (seq !== this.checkSeq || !this.edit) return; // a newer check is on its way
      this.verdict = v;
      this.showVerdict(v);
    } catch (err) {
      if (seq !== this.checkSeq || !box) return;
      box.className = 'verdict bad';
      box.textContent = t('error', { msg: err.message });
    }
  }

  showVerdict(v) {
    const box = this.panel.querySelector('#verdict');
    if (!box) return;
    const lines = [];
    for (const why of v.invalid_reasons ?? []) lines.push(el('div', { class: 'error' }, t('check_invalid', { why })));
    // Why the server would refuse this edit whatever `force` says: it reaches outside the
    // user's part of the org tree.
    for (const r of v.refused ?? []) {
      lines.push(el('div', { class: 'error refused' }, t(`refused_${r.kind}`, { area: num(r.area_m2 ?? 0, 1), n: r.grids ?? r.buildings ?? 0 })));
    }
    for (const o of v.overlaps ?? []) {
      // Grids outside the user's scope come as null: named as "another grid".
      const others = o.grids.filter((g) => g !== v.grid).map((g) => g ?? t('other_grid')).join('、');
      lines.push(el('div', { class: 'error overlap' }, t('check_overlap', { grids: others, area: num(o.area_m2, 1), n: o.building_count ?? o.buildings.length })));
    }
    for (const g of v.gaps ?? []) lines.push(el('div', { class: 'warn gap' }, t('check_gap', { area: num(g.area_m2, 1), n: g.building_count ?? g.buildings.length })));
    if (v.outside_parent) lines.push(el('div', { class: 'warn' }, t('outside_parent', { area: num(v.outside_parent, 1) })));
    if (v.ok && !lines.length) lines.push(el('div', { class: 'ok' }, t('check_ok')));
    box.className = `verdict ${v.ok ? (lines.length > 1 ? 'info' : 'good') : 'bad'}`;
    box.replaceChildren(...lines);
    box.dataset.ok = String(v.ok);
    box.dataset.overlaps = String((v.overlaps ?? []).length);
    // On the map: the overlaps and gaps this edit would make.
    setOverlay(this.map, 'check', [
      ...(v.overlaps ?? []).filter((o) => o.geometry).map((o) => ({ type: 'Feature', geometry: o.geometry, properties: { kind: 'overlap' } })),
      ...(v.gaps ?? []).filter((g) => g.geometry).map((g) => ({ type: 'Feature', geometry: g.geometry, properties: { kind: 'gap' } })),
    ]);
    const moved = v.buildings_changing_grid ?? [];
    highlightBuildings(this.map, moved.map((m) => m.building));
    const list = this.panel.querySelector('#moving');
    list.replaceChildren(
      el('h3', {}, t('moving', { n: moved.length })),
      el('ul', { id: 'moving-list' }, ...moved.slice(0, 200).map((m) => el('li', {}, t('from_to', { b: m.building, from: m.from ?? t('none'), to: m.to ?? t('none') })))),
    );
  }

  async save(force) {
    const result = this.panel.querySelector('#save-result');
    const reason = this.panel.querySelector('#reason').value.trim();
    if (!reason) {
      result.className = 'error';
      result.textContent = t('reason_required');
      this.panel.querySelector('#reason').focus();
      return;
    }
    const feature = this.candidate();
    if (!feature) return;
    const e = this.edit;
    try {
      const { body } = e.isNew
        ? await call('POST', '/api/grids', { json: { feature, reason, force } })
        : await call('PUT', `/api/grids/${encodeURIComponent(e.code)}`, {
          json: { feature, reason, force }, headers: { 'If-Match': `"${e.version}"` },
        });
      const code = feature.properties.code;
      this.stopEditing();
      await this.refresh();
      await this.showGrid(code);
      this.panel.prepend(el('p', { id: 'saved', class: 'ok' }, t('saved', { v: body.version })));
    } catch (err) {
      result.className = 'error';
      if (err instanceof ApiError && err.status === 412) await this.explainStale(result);
      else if (err instanceof ApiError && err.status === 409) {
        result.replaceChildren(el('div', {}, t('conflict_overlap', { msg: '' })),
          el('button', { id: 'save-force', class: 'danger', onclick: () => this.save(true) }, t('save_anyway')));
      } else result.textContent = t('save_failed', { msg: err.message });
    }
  }

  /** Someone saved a newer version: say who, when and why; keep this edit to re-apply. */
  async explainStale(result) {
    const code = this.edit.code;
    const { body: latest, headers } = await call('GET', `/api/grids/${encodeURIComponent(code)}`);
    const v = Number((headers.get('ETag') ?? `"${latest.properties.version}"`).replaceAll('"', ''));
    const h = await get(`/api/grids/${encodeURIComponent(code)}/history`).catch(() => ({ versions: [] }));
    const newest = (h.versions ?? []).find((x) => x.version === v) ?? {};
    result.replaceChildren(
      el('p', { id: 'stale' }, t('conflict_stale', { who: newest.who ?? '?', at: newest.at ?? '?', v, why: newest.why ?? '' })),
      el('div', { class: 'row' },
        el('button', { id: 'reapply', onclick: () => { this.edit.version = v; result.replaceChildren(); this.check(); } }, t('reapply')),
        el('button', { onclick: () => { this.stopEditing(); this.showGrid(code); } }, t('discard'))),
    );
    // Show the newer version beside the edit, so the two can be reconciled by eye.
    setOverlay(this.map, 'diff', [{ ...latest, properties: { side: 'b' } }]);
  }

  /** Reloads the grids and redraws the tiles an edit changes. */
  async refresh() {
    this.app.grids = await get('/api/grids');
    showGridLabels(this.map, this.app.grids.features);
    for (const s of ['grids', 'buildings', 'problems']) reloadTiles(this.map, s);
  }
}

