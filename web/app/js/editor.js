// Grid editing for grid leaders (and the roles above them): draw a new grid or drag the
// vertices of an existing one, snapping to the neighbouring grids' vertices and edges; every
// change is checked by POST /api/validate and the overlaps, gaps and buildings that would
// change grid are shown before saving. Saving needs a reason and the version edited
// (If-Match): a newer version saved by someone else is explained and the edit kept.

import { TerraDraw, TerraDrawPolygonMode, TerraDrawSelectMode } from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';
import { ApiError, call, get, post } from './api.js';
import { localTime, num, t } from './i18n.js';
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

  /** Drawing new grids (and pushing a save through overlaps) is for the roles that own a
   * village or more; a grid leader edits the grid they lead. */
  canCreate() { return this.app.me.capabilities.includes('create_grids'); }

  /** Whether an edit has changes that are not saved: the guard of tabs, sign-out and reload. */
  dirty() {
    const e = this.edit;
    if (!e) return false;
    return e.isNew ? e.featureId !== null : e.undo.length > 0;
  }

  /** Whether clicks on the map belong to the editor right now. */
  busy() { return this.edit !== null; }

  enter() {
    colourBuildingsByVisit(this.map, false);
    setVisible(this.map, 'problems', false);
    setVisible(this.map, 'problems-points', false);
    this.renderList();
    this.showNeighbours();
  }

  leave() {
    this.stopEditing();
    setOverlay(this.map, 'diff', []);
    setOverlay(this.map, 'neighbours', []);
    showGridLabels(this.map, this.app.grids.features);
    selectGrid(this.map, null);
  }

  /** Draws the grids next to the user's (outline and code, read-only) for those who edit. */
  async showNeighbours() {
    if (!this.canEdit()) return;
    const fc = await get('/api/grids?context=1').catch(() => null);
    if (!fc || this.app.view !== 'map') return;
    const others = fc.features.filter((f) => f.properties.context);
    setOverlay(this.map, 'neighbours', others);
    showGridLabels(this.map, [...this.app.grids.features, ...others]);
  }

  // ---- the list of grids and one grid's page -------------------------------------------

  renderList() {
    const grids = this.app.grids.features;
    this.panel.replaceChildren(
      el('h2', {}, t('grids_in_scope')),
      this.canCreate()
        ? el('div', { class: 'row' }, el('button', { id: 'draw-new', onclick: () => this.startNew() }, t('draw_new')))
        : '',
      this.canEdit() ? '' : el('p', { class: 'muted' }, t('no_edit_right')),
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
        ...versions.map((v, i) => el('tr', { 'data-version': v.version },
          el('td', {}, el('input', { type: 'radio', name: 'va', value: v.version, checked: i === 1 || (versions.length === 1 && i === 0) })),
          el('td', {}, el('input', { type: 'radio', name: 'vb', value: v.version, checked: i === 0 })),
          el('td', { class: 'num' }, String(v.version)), el('td', {}, localTime(v.at)), el('td', {}, v.who ?? ''),
          el('td', {}, `${v.action ? `${t(`action_${v.action}`)}: ` : ''}${v.why ?? ''}`),
          // An older version that had a shape can be made the current one again (a new version,
          // checked and recorded like any edit).
          el('td', {}, this.canEdit() && i > 0 && !v.deleted && v.action !== 'deleted'
            ? el('button', { class: 'link restore', onclick: () => this.askRestore(code, v.version) }, t('restore_version'))
            : '')))),
      versions.length > 1 ? el('div', { class: 'row' }, el('button', { id: 'diff', onclick: () => this.diff(code) }, t('diff')), el('span', { id: 'diff-legend', class: 'muted' })) : '',
      el('div', { id: 'restore-box' }),
    );
  }

  /** Asks why, then saves version `version`'s shape as the grid's newest version. */
  askRestore(code, version) {
    const box = this.panel.querySelector('#restore-box');
    const reason = el('input', { id: 'restore-reason', size: 24, value: t('restore_reason_default', { v: version }) });
    const result = el('div', { id: 'restore-result', role: 'status' });
    const go = async () => {
      const why = reason.value.trim();
      if (!why) { result.className = 'error'; result.textContent = t('reason_required'); return; }
      try {
        const { body: old } = await call('GET', `/api/grids/${encodeURIComponent(code)}/versions/${version}`);
        const { body: now, headers } = await call('GET', `/api/grids/${encodeURIComponent(code)}`);
        const current = Number((headers.get('ETag') ?? `"${now.properties.version}"`).replaceAll('"', ''));
        const feature = { type: 'Feature', geometry: old.geometry, properties: { ...now.properties, code } };
        const { body } = await call('PUT', `/api/grids/${encodeURIComponent(code)}`, {
          json: { feature, reason: why, force: false }, headers: { 'If-Match': `"${current}"` },
        });
        await this.refresh();
        await this.showGrid(code);
        this.panel.prepend(el('p', { id: 'saved', class: 'ok' }, t('saved', { v: body.version })));
      } catch (err) {
        result.className = 'error';
        result.textContent = t('save_failed', { msg: err.message });
      }
    };
    box.replaceChildren(el('h3', {}, t('restore_title', { v: version })),
      el('label', { class: 'row' }, t('reason'), reason),
      el('div', { class: 'row' }, el('button', { id: 'restore-go', class: 'primary', onclick: go }, t('restore_version')),
        el('button', { onclick: () => box.replaceChildren() }, t('cancel'))),
      result);
    reason.focus();
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
    // The grid's own vertices as loaded come back exactly too, not as the drawing rounded them.
    const own = this.edit?.base ?? [];
    const fix = (c) => {
      for (const ring of [...own, ...this.targets]) {
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
    this.edit = { code: this.suggestCode(), version: null, village, name: null, isNew: true, featureId: null, undo: [], redo: [], rest: [] };
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
    const [added] = draw.addFeatures([{ type: 'Feature', geometry: { type: 'Polygon', coordinates: drawable(main) }, properties: { mode: 'polygon' } }]);
    if (!added?.valid) {
      this.renderEditPanel(t('check_invalid', { why: added?.reason ?? '?' }));
      return;
    }
    this.edit = {
      code, version, village: f.properties.village, name: f.properties.name, isNew: false, featureId: added.id, undo: [], redo: [], rest,
      base: structuredClone(main), // the shape as loaded: the common ancestor of a merge
    };
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
      this.edit.redo = [];
      this.lastGeometry = this.currentGeometry();
      this.updateUndo();
      this.check();
    }
  }

  currentGeometry() {
    const f = this.edit?.featureId != null ? this.draw.getSnapshotFeature(this.edit.featureId) : null;
    return f ? structuredClone(f.geometry) : null;
  }

  undo() { this.step('undo', 'redo'); }

  redo() { this.step('redo', 'undo'); }

  /** Moves one shape from the `from` stack to the map, the shape it replaces onto `to`. */
  step(from, to) {
    const g = this.edit?.[from].pop();
    if (!g) return;
    if (this.lastGeometry) this.edit[to].push(this.lastGeometry);
    this.draw.updateFeatureGeometry(this.edit.featureId, g);
    this.lastGeometry = structuredClone(g);
    this.updateUndo();
    this.check();
  }

  updateUndo() {
    const b = this.panel.querySelector('#undo');
    if (b) b.disabled = !this.edit?.undo.length;
    const r = this.panel.querySelector('#redo');
    if (r) r.disabled = !this.edit?.redo.length;
  }

  /** What to keep of an unsaved edit of an existing grid through a sign-in (null: nothing). */
  keepable() {
    if (!this.dirty() || this.edit.isNew) return null;
    return {
      code: this.edit.code, version: this.edit.version, geometry: this.currentGeometry(),
      reason: this.panel.querySelector('#reason')?.value ?? '',
    };
  }

  /** Opens a kept edit again: the grid as saved, with the kept shape on top, unsaved. If
   * someone saved a newer version meanwhile, saving says so (412) as for any edit. */
  async resume(kept) {
    await this.startEdit(kept.code);
    if (!this.edit) return;
    this.edit.version = kept.version;
    this.edit.undo.push(this.currentGeometry());
    this.draw.updateFeatureGeometry(this.edit.featureId, kept.geometry);
    this.lastGeometry = this.currentGeometry();
    this.updateUndo();
    this.panel.querySelector('#reason').value = kept.reason;
    this.panel.prepend(el('p', { class: 'warn', id: 'restored-edit' }, t('edit_restored')));
    this.check();
  }

  /** Esc: leaves the drawing or the edit (asking first when it has unsaved changes). */
  cancel() {
    const e = this.edit;
    if (!e) return;
    if (this.dirty() && !window.confirm(t('unsaved_confirm'))) return;
    this.stopEditing();
    if (e.isNew) this.renderList(); else this.showGrid(e.code);
  }

  /** Keyboard: Ctrl+Z undo, Ctrl+Y or Ctrl+Shift+Z redo, Esc cancel; not while typing. */
  onKey(ev) {
    if (!this.edit || ev.target.closest?.('input, textarea, select')) return false;
    const key = ev.key.toLowerCase();
    if ((ev.ctrlKey || ev.metaKey) && key === 'z' && !ev.shiftKey) this.undo();
    else if ((ev.ctrlKey || ev.metaKey) && (key === 'y' || (key === 'z' && ev.shiftKey))) this.redo();
    else if (key === 'escape') this.cancel();
    else return false;
    return true;
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
        el('button', { id: 'undo', onclick: () => this.undo(), disabled: true, title: 'Ctrl+Z' }, t('undo')),
        el('button', { id: 'redo', onclick: () => this.redo(), disabled: true, title: 'Ctrl+Y' }, t('redo')),
        el('button', { id: 'save', class: 'primary', onclick: () => this.save(false) }, t('save')),
        el('button', { id: 'cancel', onclick: () => this.cancel(), title: 'Esc' }, t('cancel'))),
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
    // Green only when nothing at all is wrong: a gap or a reach outside the parent is a warning.
    const clean = v.ok && !lines.length;
    if (clean) lines.push(el('div', { class: 'ok' }, t('check_ok')));
    box.className = `verdict ${clean ? 'good' : (v.ok ? 'warn' : 'bad')}`;
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
        // Each overlap with its grid and area, from the check of this very shape.
        const v = await post('/api/validate', { feature }).catch(() => this.verdict ?? {});
        const items = (v.overlaps ?? []).map((o) => el('li', {}, t('overlap_item', {
          grids: o.grids.filter((g) => g !== v.grid).map((g) => g ?? t('other_grid')).join('、'),
          area: num(o.area_m2, 1), n: o.building_count ?? o.buildings?.length ?? 0,
        })));
        result.replaceChildren(el('div', {}, t('conflict_overlap')), el('ul', { id: 'overlap-list' }, ...items),
          this.canCreate()
            ? el('button', { id: 'save-force', class: 'danger', onclick: () => this.save(true) }, t('save_anyway'))
            : el('p', { class: 'muted' }, t('overlap_fix_first')));
      } else result.textContent = t('save_failed', { msg: err.message });
    }
  }

  /** Someone saved a newer version: say who, when and why, and never overwrite it silently.
   * When the two edits moved different vertices of the same outline, they can be merged (a
   * three-way merge against the shape both started from); otherwise the edit is redone on the
   * newest version, with this one drawn beside it to copy from. Either way the user sees the
   * result, checked, before saving it. */
  async explainStale(result) {
    const code = this.edit.code;
    const { body: latest, headers } = await call('GET', `/api/grids/${encodeURIComponent(code)}`);
    const v = Number((headers.get('ETag') ?? `"${latest.properties.version}"`).replaceAll('"', ''));
    const h = await get(`/api/grids/${encodeURIComponent(code)}/history`).catch(() => ({ versions: [] }));
    const newest = (h.versions ?? []).find((x) => x.version === v) ?? {};
    const mine = this.currentGeometry();
    const theirs = mainPart(latest.geometry);
    const merged = mine && theirs && this.edit.base ? mergeRings(this.edit.base, theirs, mine.coordinates) : null;
    const reason = this.panel.querySelector('#reason')?.value ?? '';
    const load = async (rings) => {
      const draw = this.ensureDraw();
      draw.clear();
      draw.setMode('select');
      const [added] = draw.addFeatures([{ type: 'Feature', geometry: { type: 'Polygon', coordinates: drawable(rings) }, properties: { mode: 'polygon' } }]);
      const rest = latest.geometry.type === 'MultiPolygon'
        ? latest.geometry.coordinates.filter((p) => p !== theirs).sort((a, b) => b[0].length - a[0].length)
        : [];
      this.edit = { ...this.edit, version: v, featureId: added.id, undo: [], redo: [], base: structuredClone(theirs), rest };
      draw.selectFeature(added.id);
      this.lastGeometry = this.currentGeometry();
      this.renderEditPanel(t('editing_hint'));
      this.panel.querySelector('#reason').value = reason;
      this.check();
    };
    result.replaceChildren(
      el('p', { id: 'stale' }, t('conflict_stale', { who: newest.who ?? '?', at: localTime(newest.at) || '?', v, why: newest.why ?? '' })),
      merged
        ? el('p', { class: 'muted', id: 'merge-note' }, t('merge_possible'))
        : el('p', { class: 'muted', id: 'merge-note' }, t('merge_impossible')),
      el('div', { class: 'row' },
        merged ? el('button', { id: 'merge', class: 'primary', onclick: async () => { await load(merged); this.edit.undo.push({ type: 'Polygon', coordinates: drawable(theirs) }); this.updateUndo(); } }, t('merge_edits')) : '',
        el('button', { id: 'redo-on-latest', onclick: async () => { await load(theirs); setOverlay(this.map, 'diff', [{ type: 'Feature', geometry: mine, properties: { side: 'a' } }]); } }, t('redo_on_latest')),
        el('button', { onclick: () => { this.stopEditing(); this.showGrid(code); } }, t('discard'))),
    );
    // The newer version beside the edit, so the two can be compared by eye.
    setOverlay(this.map, 'diff', [{ ...latest, properties: { side: 'b' } }]);
  }

  /** Reloads the grids and redraws the tiles an edit changes. */
  async refresh() {
    this.app.grids = await get('/api/grids');
    showGridLabels(this.map, this.app.grids.features);
    this.showNeighbours();
    for (const s of ['grids', 'buildings', 'problems']) reloadTiles(this.map, s);
  }
}


/** Rings as the drawing library accepts them: at most 9 decimals (0.1 mm); `exact` puts the
 * original coordinates back on saving. */
function drawable(rings) {
  const r9 = (x) => Math.round(x * 1e9) / 1e9;
  return rings.map((ring) => ring.map((c) => [r9(c[0]), r9(c[1])]));
}

/** The largest part of a (multi)polygon: the part the editor edits. */
function mainPart(geometry) {
  if (!geometry) return null;
  if (geometry.type === 'Polygon') return geometry.coordinates;
  return [...geometry.coordinates].sort((a, b) => b[0].length - a[0].length)[0] ?? null;
}

/** The same vertex, to the drawing library's rounding (~1 mm). */
const samePoint = (a, b) => Math.abs(a[0] - b[0]) < SAME_VERTEX_DEG && Math.abs(a[1] - b[1]) < SAME_VERTEX_DEG;

/**
 * Three-way merge of polygon rings, vertex by vertex: where `mine` kept the base's vertex,
 * `theirs` wins; where `theirs` kept it, `mine` wins; where both moved the same vertex
 * differently, or a vertex was added or removed on either side, there is no safe merge (null).
 */
export function mergeRings(base, theirs, mine) {
  if (base.length !== theirs.length || base.length !== mine.length) return null;
  const out = [];
  for (let r = 0; r < base.length; r++) {
    const [b, th, mi] = [base[r], theirs[r], mine[r]];
    if (b.length !== th.length || b.length !== mi.length) return null;
    const ring = [];
    for (let i = 0; i < b.length; i++) {
      if (samePoint(mi[i], b[i])) ring.push(th[i]);
      else if (samePoint(th[i], b[i]) || samePoint(th[i], mi[i])) ring.push(mi[i]);
      else return null;
    }
    out.push(ring);
  }
  return out;
}
