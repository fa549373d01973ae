// Plan comparison for planners: a re-partition of a village computed by the server in the
// background (POST /api/partition, polled), shown over today's grids or side by side with
// them, with each grid's workload before and after and the buildings that move.

import { call, download, get, post } from './api.js';
import { localTime, noteText, num, t, tentacleText } from './i18n.js';
import { printMap } from './print.js';
import { el } from './dom.js';
import { createMap, fitTo, highlightBuildings, reloadTiles, setVisible, showGridLabels, showPlan } from './mapview.js';

const PALETTE = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6',
  '#bcf60c', '#fabebe', '#008080', '#e6beff', '#9a6324', '#800000', '#aaffc3', '#808000'];

export class Plans {
  constructor(app, panel) {
    this.app = app;
    this.panel = panel;
    this.map = app.map;
    this.job = null;
    this.result = null;
    this.mode = 'overlay';
    this.twin = null;
  }

  enter() { this.render(); if (this.result) this.show(); }

  leave() {
    showPlan(this.map, [], '');
    highlightBuildings(this.map, []);
    this.closeTwin();
  }

  villages() {
    return [...new Set(this.app.grids.features.map((f) => f.properties.village).filter(Boolean))].sort();
  }

  render() {
    const villages = this.villages();
    const count = (v) => this.app.grids.features.filter((f) => f.properties.village === v).length;
    const village = el('select', { id: 'plan-village' }, ...villages.map((v) => el('option', { value: v }, v)));
    // Villages by name where the statistics know it (the code stays the option's value).
    get('/api/stats?by=village').then((stats) => {
      const names = new Map((stats.rows ?? []).map((r) => [r.village, r.village_name ?? r.name]));
      for (const o of village.options) if (names.get(o.value)) o.textContent = `${names.get(o.value)}（${o.value}）`;
    }).catch(() => {});
    const grids = el('input', { id: 'plan-grids', type: 'number', min: 1, value: String(count(villages[0]) || 4), style: 'width:6em' });
    village.addEventListener('change', () => { grids.value = String(count(village.value) || 4); });
    // Either a number of grids or a workload a grid (the norms speak of 300–500 households).
    const by = el('select', { id: 'plan-by' },
      el('option', { value: 'grids' }, t('plan_by_grids')), el('option', { value: 'target' }, t('plan_by_target')));
    const target = el('input', { id: 'plan-target', type: 'number', min: 1, step: 10, value: '400', style: 'width:6em' });
    const targetRow = el('label', { class: 'row', hidden: true }, t('plan_target'), target, ` ${t('households')}`);
    const gridsRow = el('label', { class: 'row' }, t('plan_grids'), grids);
    by.addEventListener('change', () => { targetRow.hidden = by.value !== 'target'; gridsRow.hidden = by.value === 'target'; });
    // In percent, as the report gives it.
    const tolerance = el('input', { id: 'plan-tolerance', type: 'number', min: 1, max: 50, step: 1, value: '5', style: 'width:5em' });
    const fromCurrent = el('input', { id: 'plan-from-current', type: 'checkbox' });
    this.panel.replaceChildren(
      el('h2', {}, t('plan_new')),
      el('label', { class: 'row' }, t('plan_village'), village),
      el('label', { class: 'row' }, t('plan_size'), by),
      gridsRow,
      targetRow,
      el('label', { class: 'row' }, t('plan_tolerance'), tolerance, ' %'),
      el('label', { class: 'row' }, fromCurrent, t('plan_from_current')),
      el('div', { class: 'row' }, el('button', {
        id: 'plan-start', class: 'primary',
        onclick: () => this.start({
          village: village.value,
          ...(by.value === 'target' ? { target_households: Number(target.value) } : { grids: Number(grids.value) }),
          tolerance: Number(tolerance.value) / 100, from_current: fromCurrent.checked,
        }),
      }, t('plan_start'))),
      el('div', { id: 'plan-status', role: 'status' }),
      el('div', { id: 'plan-result' }),
      el('div', { id: 'plan-saved' }),
    );
    if (!villages.length) this.panel.querySelector('#plan-start').disabled = true;
    this.listSaved();
  }

  /** The saved plans of the villages this user may plan: open one, or delete it. */
  async listSaved() {
    const box = this.panel.querySelector('#plan-saved');
    if (!box) return;
    let plans;
    try {
      ({ plans } = await get('/api/plans'));
    } catch (e) {
      box.replaceChildren(el('p', { class: 'error' }, e.message));
      return;
    }
    const row = (p) => el('tr', {},
      el('td', {}, p.name, p.adopted ? el('span', { class: 'badge ok' }, ` ${t('plan_is_adopted')}`) : ''),
      el('td', {}, p.village),
      el('td', { class: 'num' }, num(p.grids)),
      el('td', {}, p.saved_by),
      el('td', {}, localTime(p.saved_at)),
      el('td', {},
        el('button', { class: 'plan-open', onclick: () => this.open(p.id) }, t('plan_open')), ' ',
        el('button', { class: 'plan-delete', onclick: () => this.remove(p) }, t('plan_delete'))));
    box.replaceChildren(
      el('h3', {}, t('plan_saved_list')),
      plans.length
        ? el('table', { id: 'plan-saved-table' },
          el('tr', {}, el('th', {}, t('plan_name')), el('th', {}, t('plan_village')), el('th', { class: 'num' }, t('plan_grids')),
            el('th', {}, t('saved_by')), el('th', {}, t('saved_at')), el('th', {}, '')),
          ...plans.map(row))
        : el('p', { class: 'muted' }, t('plan_saved_none')));
  }

  async open(id) {
    const status = this.panel.querySelector('#plan-status');
    status.className = '';
    try {
      this.result = await get(`/api/plans/${id}`);
      this.job = this.result.job;
      this.show();
    } catch (e) {
      status.className = 'error';
      status.textContent = e.message;
    }
  }

  async remove(p) {
    if (!window.confirm(t('plan_delete_confirm', { name: p.name }))) return;
    try {
      await call('DELETE', `/api/plans/${p.id}`);
      if (this.result?.saved?.id === p.id) this.result = { ...this.result, saved: null };
    } catch (e) {
      this.panel.querySelector('#plan-status').textContent = e.message;
    }
    this.listSaved();
  }

  /** Naming and saving the plan, or what it was saved as. */
  saveForm(r) {
    if (r.saved) {
      return el('p', { class: 'ok', id: 'plan-saved-as' },
        t('plan_saved_as', { name: r.saved.name, who: r.saved.saved_by, at: localTime(r.saved.saved_at) }));
    }
    const day = new Date().toLocaleDateString('zh-CN');
    const name = el('input', { id: 'plan-name', size: 24, maxlength: 60, value: `${r.village} ${t('plan_grid_n', { n: r.plan.features.length })} ${day}` });
    const result = el('div', { id: 'plan-save-result', role: 'status' });
    const save = async () => {
      const n = name.value.trim();
      if (!n) { result.className = 'error'; result.textContent = t('plan_name_required'); name.focus(); return; }
      try {
        const saved = await post(`/api/partition/${r.job}/save`, { name: n });
        this.result = { ...this.result, saved };
        this.show();
        this.listSaved();
      } catch (e) {
        result.className = 'error';
        result.textContent = t('save_failed', { msg: e.message });
      }
    };
    return el('div', { id: 'plan-save' },
      el('label', { class: 'row' }, t('plan_name'), name,
        el('button', { id: 'plan-save-go', class: 'primary', onclick: save }, t('plan_save'))),
      result);
  }

  /** The plan's colour key (swatch, code, households) for the printed map. */
  key(plan) {
    return el('div', { class: 'plan-key' },
      el('b', {}, t('plan_key')),
      ...plan.map((f) => el('div', {},
        el('span', { class: 'swatch', style: `background:${f.properties.colour}` }),
        `${f.properties.code}  ${num(f.properties.households)} ${t('households')}`)));
  }

  print(plan) {
    const r = this.result;
    const title = t('plan_print_title', { town: this.app.me.town_name ?? '', v: r.village_name ?? r.village, name: r.saved ? `“${r.saved.name}”` : '' });
    printMap(this.app, title, this.key(plan));
  }

  async start(req) {
    const status = this.panel.querySelector('#plan-status');
    this.result = null;
    this.panel.querySelector('#plan-result').replaceChildren();
    // A plan from an earlier run is not left on the map while this one is made (or fails).
    showPlan(this.map, [], '');
    this.closeTwin();
    status.className = '';
    try {
      const { job } = await post('/api/partition', req);
      this.job = job;
      for (;;) {
        const s = await get(`/api/partition/${job}`);
        if (this.job !== job) return; // another plan was started
        if (s.status === 'done') { this.result = s; break; }
        if (s.status === 'failed') throw new Error(s.error);
        status.textContent = t('plan_running', { phase: phaseText(s.phase), pct: Math.round((s.progress ?? 0) * 100) });
        await new Promise((r) => setTimeout(r, 300));
      }
      status.textContent = '';
      this.show();
    } catch (e) {
      status.className = 'error';
      status.textContent = t('plan_failed', { msg: e.message });
    }
  }

  /** Adopting the plan as the village's grids, for the roles that own the village's grids:
   * continued grids keep their codes, new ones get the village's next codes, the rest are
   * deleted; every one keeps its history with the reason. */
  adoptForm(r) {
    if (!this.app.me.capabilities.includes('create_grids')) return '';
    if (r.adopted) return el('p', { class: 'ok', id: 'plan-adopted' }, t('plan_adopted', { n: Object.keys(r.adopted.saved).length, d: r.adopted.deleted.length }));
    const reason = el('input', { id: 'adopt-reason', size: 24 });
    const result = el('div', { id: 'adopt-result', role: 'status' });
    const adopt = async () => {
      const why = reason.value.trim();
      if (!why) { result.className = 'error'; result.textContent = t('reason_required'); reason.focus(); return; }
      if (!window.confirm(t('plan_adopt_confirm', { v: r.village }))) return;
      try {
        const done = await post(`/api/partition/${r.job}/adopt`, { reason: why });
        this.result = { ...r, adopted: done };
        this.listSaved();
        this.app.grids = await get('/api/grids');
        showGridLabels(this.map, this.app.grids.features);
        for (const l of ['grids', 'buildings', 'problems']) reloadTiles(this.map, l);
        showPlan(this.map, [], '');
        this.show();
      } catch (e) {
        result.className = 'error';
        result.textContent = t('save_failed', { msg: e.message });
      }
    };
    return el('div', { id: 'plan-adopt' },
      el('h3', {}, t('plan_adopt_title')),
      el('p', { class: 'muted' }, t('plan_adopt_hint')),
      el('label', { class: 'row' }, t('reason'), reason),
      el('div', { class: 'row' }, el('button', { id: 'plan-adopt-go', class: 'primary', onclick: adopt }, t('plan_adopt'))),
      result);
  }

  /** The plan as a GeoJSON file (RFC 7946, WGS84), named for its village and date: for QGIS or
   * `gridmap import --layer grids`. */
  exportGeoJson() {
    const r = this.result;
    const fc = { type: 'FeatureCollection', features: r.plan.features.map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { ...f.properties } })) };
    const blob = new Blob([JSON.stringify(fc)], { type: 'application/geo+json' });
    const a = el('a', { href: URL.createObjectURL(blob), download: `plan-${r.village ?? 'village'}-${new Date().toISOString().slice(0, 10)}.geojson` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  /** The plan's grids with a colour each, for the map. */
  planFeatures() {
    return this.result.plan.features.map((f, i) => ({ ...f, properties: { ...f.properties, colour: PALETTE[i % PALETTE.length] } }));
  }

  show() {
    const r = this.result;
    const rep = r.report ?? {};
    const moves = r.moves ?? [];
    const plan = this.planFeatures();
    const modeButton = (m, label) => el('button', { id: `plan-${m}`, class: this.mode === m ? 'primary' : '', onclick: () => { this.mode = m; this.show(); } }, label);
    this.panel.querySelector('#plan-result').replaceChildren(
      el('h3', {}, t('plan_report')),
      el('table', { id: 'plan-report' },
        el('tr', {}, el('th', {}, t('plan_grids')), el('td', {}, num(rep.grids))),
        el('tr', {}, el('th', {}, t('plan_deviation')), el('td', {}, `${num(rep.max_deviation_pct, 1)}%`)),
        el('tr', {}, el('th', {}, t('plan_pp')), el('td', {}, `${num(rep.polsby_popper_mean, 3)} / ${num(rep.polsby_popper_min, 3)}`)),
        el('tr', {}, el('th', {}, t('plan_contiguous')), el('td', {}, rep.all_contiguous ? t('yes') : t('no'))),
        el('tr', {}, el('th', {}, t('plan_within', { pct: num(100 * (rep.tolerance ?? 0)) })), el('td', { id: 'plan-within' }, `${num(rep.within_tolerance)} / ${num(rep.grids)}`)),
        el('tr', {}, el('th', {}, t('plan_shape')), el('td', { id: 'plan-shape' }, t('plan_shape_counts', { tentacles: num(rep.tentacles), enclaves: num(rep.enclaves) }))),
        el('tr', {}, el('th', {}, t('plan_moves')), el('td', { id: 'plan-moves-count' }, `${num(moves.length)} (${num(moves.reduce((a, m) => a + (m.households ?? 0), 0))} ${t('households')})`))),
      // Why a grid misses the tolerance or stands alone.
      ...((rep.notes ?? []).length ? [
        el('h4', {}, t('plan_notes')),
        el('ul', { id: 'plan-notes' }, ...rep.notes.map((n) => el('li', {}, el('b', {}, n.grid), ` ${noteText(n, 100 * (rep.tolerance ?? 0))}`))),
      ] : []),
      // Why a grid keeps an arm.
      ...((rep.tentacle_notes ?? []).length ? [
        el('h4', {}, t('plan_tentacles')),
        el('ul', { id: 'plan-tentacles' }, ...rep.tentacle_notes.map((n) => el('li', {}, el('b', {}, n.grid), ` ${tentacleText(n, 100 * (rep.tolerance ?? 0))}`))),
      ] : []),
      el('div', { class: 'row' }, modeButton('overlay', t('overlay')), modeButton('side', t('side_by_side'))),
      el('table', { id: 'plan-grids-table' },
        el('tr', {}, el('th', {}, t('plan_proposed')), el('th', {}, t('plan_current')),
          el('th', { class: 'num' }, t('plan_before')), el('th', { class: 'num' }, t('plan_after')), el('th', { class: 'num' }, '±')),
        ...plan.map((f) => {
          const p = f.properties;
          return el('tr', { class: 'clickable', onclick: () => fitTo(this.map, [f.geometry]) },
            el('td', {}, el('span', { class: 'swatch', style: `background:${p.colour}` }), p.code),
            el('td', {}, p.matched_current ?? '–'),
            el('td', { class: 'num' }, p.households_before == null ? '–' : num(p.households_before)),
            el('td', { class: 'num' }, num(p.households)),
            el('td', { class: 'num' }, p.deviation_pct == null ? '–' : `${num(p.deviation_pct, 1)}%`));
        })),
      this.saveForm(r),
      el('div', { class: 'row' },
        el('button', { id: 'plan-export', onclick: () => this.exportGeoJson() }, t('plan_export')), ' ',
        el('button', { id: 'plan-export-gpkg', onclick: () => download(`/api/partition/${r.job}/grids.gpkg`, `plan-${r.village}.gpkg`) }, t('plan_export_gpkg')), ' ',
        el('button', { id: 'plan-print', onclick: () => this.print(plan) }, t('plan_print'))),
      el('h3', {}, `${t('plan_moves')} (${num(moves.length)})`),
      el('ul', { id: 'plan-moves' }, ...moves.slice(0, 300).map((m) => el('li', {}, t('from_to', { b: m.building, from: m.from ?? t('none'), to: m.to ?? t('none') })))),
      this.adoptForm(r),
    );
    highlightBuildings(this.map, moves.map((m) => m.building));
    if (this.mode === 'overlay') {
      this.closeTwin();
      showPlan(this.map, plan, t('households'));
    } else {
      showPlan(this.map, [], '');
      this.openTwin(plan);
    }
    fitTo(this.map, plan.map((f) => f.geometry));
  }

  /** A second map beside the first, showing the plan; the two move together. */
  openTwin(plan) {
    const wrap = document.querySelector('#map-wrap');
    if (!this.twin) {
      const div = el('div', { id: 'twin-map', style: 'position:absolute;top:0;bottom:0;right:0;width:50%;border-left:2px solid #1f3b5a' });
      wrap.append(div);
      document.querySelector('#map').style.right = '50%';
      this.map.resize();
      const twin = createMap(div);
      this.twin = twin;
      const sync = (from, to) => () => {
        if (this.syncing) return;
        this.syncing = true;
        to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
        this.syncing = false;
      };
      this.syncA = sync(this.map, twin);
      this.syncB = sync(twin, this.map);
      this.map.on('move', this.syncA);
      twin.on('move', this.syncB);
      twin.once('load', () => {
        for (const l of ['grids-fill', 'grids-line', 'grids-selected', 'problems']) setVisible(twin, l, false);
        showPlan(twin, plan, t('households'));
        twin.jumpTo({ center: this.map.getCenter(), zoom: this.map.getZoom() });
      });
      this.app.twin = twin;
    } else if (this.twin.loaded()) showPlan(this.twin, plan, t('households'));
  }

  closeTwin() {
    if (!this.twin) return;
    this.map.off('move', this.syncA);
    this.twin.remove();
    document.querySelector('#twin-map')?.remove();
    document.querySelector('#map').style.right = '0';
    this.map.resize();
    this.twin = null;
    this.app.twin = null;
  }
}

/** The partitioner's phase in the UI's language (the server names it in English). */
function phaseText(phase) {
  const key = `phase_${String(phase ?? 'starting').replaceAll(' ', '_')}`;
  const text = t(key);
  return text === key ? '' : text;
}
