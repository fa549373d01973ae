// The progress dashboard: per grid or per village, the visit rate, the linkage rate, the rate
// expected by today and the ranking, exactly as GET /api/stats gives them; a chart of visits
// over time against the expected line; export of the same table to XLSX. Above them, for a
// district's or city's user, the towns of their division ranked as GET /api/towns gives them.

import { ApiError, download, get } from './api.js';
import { num, pct, t } from './i18n.js';
import { el, svg } from './dom.js';

export class Dashboard {
  constructor(app, page) {
    this.app = app;
    this.page = page;
    this.by = 'grid';
    this.focus = null; // {by, code} of the chart, null for everything in scope
    this.sort = null; // {key, dir} of the table, null for the server's ranking
    // The towns of the user's division: their own section, filled when /api/towns answers
    // (seconds for a big district), so that nothing else waits for it.
    this.townsBox = el('section', { id: 'towns' });
    this.towns = null; // {division, towns, own}: the answer, and this server's town's code
    this.townsSort = null; // {key, dir} of the towns table, null for the server's ranking
    this.townsRefused = false; // no division's user, or refused (403, 501): no towns here
    this.townsAsked = null; // the latest ask: an answer to an older one is dropped
    this.town = null; // the code of the town this server serves
  }

  /** Switches between grids and villages: the chart goes back to everything in scope. */
  setBy(by) {
    this.by = by;
    this.focus = null;
    this.sort = null;
    this.render();
  }

  /** Sorts the table by column `key` (numbers, or codes and names), a second click reversing. */
  sortBy(key) {
    this.sort = nextSort(this.sort, key);
    this.render();
  }

  /** Sorts the towns table by column `key`, as `sortBy` sorts the other. */
  sortTownsBy(key) {
    this.townsSort = nextSort(this.townsSort, key);
    this.renderTowns();
  }

  /** The name of a row's grid or village, where gridmap knows it. */
  nameOf(r) {
    if (this.by === 'grid') return r.name ?? this.app.grids.features.find((f) => f.properties.code === r.grid)?.properties.name ?? '';
    return r.village_name ?? r.name ?? '';
  }

  enter() {
    this.loadTowns();
    this.render();
  }

  /**
   * Asks a district's or city's user for the towns of their division and shows them when they
   * come (seconds for a big district); meanwhile a loading line. Anyone else, or a refusal
   * (403, or 501 from a store without divisions), gets nothing, and is not asked again.
   */
  async loadTowns() {
    if (this.townsRefused) return;
    const asked = {};
    this.townsAsked = asked;
    try {
      // This server's town, which /health names: the row to mark.
      this.town ??= (await get('/health')).town;
    } catch {
      return; // the server cannot be reached: the rest of the dashboard says so
    }
    // Whoever reaches the whole town from a scope that is not the town is a division's user:
    // only they are asked, so that no one else's browser logs a refused request.
    if (this.app.me.reach !== 'town' || this.app.me.scope === this.town) {
      this.refuseTowns();
      return;
    }
    this.townsBox.replaceChildren(el('p', { class: 'muted', id: 'towns-loading' }, t('towns_loading')));
    let answer;
    try {
      answer = await get('/api/towns');
    } catch (e) {
      if (this.townsAsked !== asked) return;
      if (e instanceof ApiError && [403, 501].includes(e.status)) this.refuseTowns();
      else this.townsBox.replaceChildren(el('p', { class: 'error' }, t('error', { msg: e.message })));
      return;
    }
    if (this.townsAsked !== asked) return;
    this.towns = { ...answer, own: this.town };
    this.renderTowns();
  }

  /** No towns for this user here: their section stays empty, and they are not asked again. */
  refuseTowns() {
    this.townsRefused = true;
    this.townsBox.hidden = true;
    this.townsBox.replaceChildren();
  }

  /** The towns of the division, ranked (or sorted by a column), this server's town marked. */
  renderTowns() {
    const { division, towns, own } = this.towns;
    this.townsBox.replaceChildren(
      el('h3', {}, t('towns_title'), ' ', el('span', { class: 'muted', id: 'towns-division' }, t('towns_division', { code: division }))),
      el('table', { id: 'towns-table' },
        headRow(TOWN_COLUMNS, this.townsSort, (k) => this.sortTownsBy(k)),
        ...sorted(towns, this.townsSort, (r, k) => r[k]).map((r) => townRow(r, r.code === own))));
  }

  leave() {}

  async render() {
    this.page.replaceChildren(this.townsBox, el('p', {}, t('loading')));
    const [stats, card] = await Promise.all([get(`/api/stats?by=${this.by}`), get('/api/scorecard')]);
    this.stats = stats;
    const rows = sorted(stats.rows, this.sort, (r, k) => (k === 'name' ? this.nameOf(r) : r[k]));
    const sum = (k) => rows.reduce((a, r) => a + (r[k] ?? 0), 0);
    const households = sum('households');
    const visited = sum('visited_households');
    const key = this.by;
    this.page.replaceChildren(
      this.townsBox,
      el('div', { class: 'row' },
        el('button', { id: 'by-grid', class: this.by === 'grid' ? 'primary' : '', onclick: () => this.setBy('grid') }, t('by_grid')),
        // Village totals need a village or town scope (the server refuses them to a grid's users).
        this.app.me.reach === 'grid' ? '' : el('button', { id: 'by-village', class: this.by === 'village' ? 'primary' : '', onclick: () => this.setBy('village') }, t('by_village')),
        el('button', { id: 'reset', onclick: () => this.setBy(this.by) }, t('reset_view')),
        el('span', { class: 'spacer', style: 'flex:1' }),
        el('button', { id: 'export-xlsx', onclick: () => download(`/api/stats.xlsx?by=${this.by}`, `gridmap-stats-${this.by}.xlsx`) }, t('export_xlsx'))),
      el('div', { class: 'cards' },
        el('div', { class: 'card' }, t('households'), el('b', { id: 'card-households' }, num(households))),
        el('div', { class: 'card' }, t('visited_households'), el('b', { id: 'card-visited' }, num(visited))),
        el('div', { class: 'card' }, t('visit_rate'), el('b', { id: 'card-rate' }, households ? pct(visited / households) : '–')),
        el('div', { class: 'card' }, t('expected_rate'), el('b', {}, stats.expected_rate == null ? '–' : pct(stats.expected_rate))),
        // The scope's own 人房关联率 (the register's figure: people whose house has no building
        // count against it), not a sum of the rows, where everyone is linked by construction.
        el('div', { class: 'card' }, t('linkage_rate'), el('b', { id: 'card-linkage' }, stats.linkage?.rate == null ? '–' : pct(stats.linkage.rate)))),
      el('h3', {}, t('scorecard'), ' ',
        el('button', { id: 'export-scorecard', onclick: () => download('/api/scorecard.xlsx', 'gridmap-scorecard.xlsx') }, t('scorecard_export')), ' ',
        el('button', { id: 'export-scorecard-pdf', onclick: () => download('/api/scorecard.pdf', 'gridmap-scorecard.pdf') }, t('scorecard_pdf'))),
      scorecardRow(card.town),
      el('h3', { id: 'chart-title' }, `${t('progress_chart')}${this.focus ? ` · ${this.focus.code}` : ''}`),
      el('div', { id: 'chart' }),
      el('table', { id: 'stats-table' },
        headRow([
          ['rank', 'rank', true], [key, key === 'grid' ? 'grid' : 'village', false], ['name', 'unit_name', false],
          ['buildings', 'buildings', true], ['households', 'households', true],
          ['visited_households', 'visited_households', true], ['visit_rate', 'visit_rate', true],
          ['expected_rate', 'expected_rate', true], ['linkage_rate', 'linkage_rate', true],
          ['flagged_visits', 'flagged_visits', true],
        ], this.sort, (k) => this.sortBy(k)),
        ...rows.map((r) => el('tr', {
          class: `clickable${r.behind_schedule ? ' behind' : ''}`, 'data-code': r[key], tabindex: 0,
          onclick: () => { this.focus = { by: key, code: r[key] }; this.chart(); },
          onkeydown: (e) => { if (e.key === 'Enter') { this.focus = { by: key, code: r[key] }; this.chart(); } },
        },
        el('td', { class: 'num' }, String(r.rank)), el('td', {}, r[key]), el('td', { class: 'name' }, this.nameOf(r)),
        el('td', { class: 'num' }, num(r.buildings)), el('td', { class: 'num' }, num(r.households)),
        el('td', { class: 'num' }, num(r.visited_households)), el('td', { class: 'num visit-rate' }, pct(r.visit_rate)),
        el('td', { class: 'num' }, r.expected_rate == null ? '–' : pct(r.expected_rate)),
        el('td', { class: 'num' }, r.linkage_rate == null ? '–' : pct(r.linkage_rate)),
        el('td', { class: 'num' }, num(r.flagged_visits))))),
    );
    await this.chart();
  }

  /** Cumulative visit rate per day against the expected line, as an SVG line chart. */
  async chart() {
    const box = this.page.querySelector('#chart');
    const q = this.focus ? `?by=${this.focus.by}&code=${encodeURIComponent(this.focus.code)}` : '';
    const focusName = this.focus ? this.nameOf(this.stats.rows.find((r) => r[this.focus.by] === this.focus.code) ?? {}) : '';
    this.page.querySelector('#chart-title').textContent = `${t('progress_chart')}${this.focus ? ` · ${this.focus.code} ${focusName}` : ''}`;
    let p;
    try {
      p = await get(`/api/progress${q}`);
    } catch (e) {
      box.textContent = t('error', { msg: e.message });
      return;
    }
    const days = p.days ?? [];
    const expected = p.expected ?? [];
    const all = [...days.map((d) => d.date), ...expected.map((d) => d.date)].sort();
    if (!all.length) {
      box.replaceChildren(el('p', { class: 'muted' }, t('none')));
      return;
    }
    const W = 720; const H = 220; const L = 44; const B = 24; const R = 10; const T = 10;
    const d0 = Date.parse(all[0]); const d1 = Math.max(Date.parse(all[all.length - 1]), d0 + 86_400_000);
    const x = (date) => L + ((Date.parse(date) - d0) / (d1 - d0)) * (W - L - R);
    const y = (rate) => T + (1 - rate) * (H - T - B);
    const path = (pts) => pts.map((pt, i) => `${i ? 'L' : 'M'}${x(pt.date).toFixed(1)},${y(pt.rate).toFixed(1)}`).join(' ');
    const actual = days.map((d) => ({ date: d.date, rate: d.visit_rate }));
    const ticks = [0, 0.25, 0.5, 0.75, 1];
    box.replaceChildren(svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img' },
      ...ticks.map((r) => svg('g', {},
        svg('line', { x1: L, x2: W - R, y1: y(r), y2: y(r), stroke: '#e3e7ec' }),
        svg('text', { x: L - 6, y: y(r) + 4, 'text-anchor': 'end' }, `${r * 100}%`))),
      svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
      svg('text', { x: L, y: H - 6 }, all[0]),
      svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, all[all.length - 1]),
      expected.length ? svg('path', { d: path(expected), fill: 'none', stroke: '#9aa5b1', 'stroke-dasharray': '5 4', 'stroke-width': 2 }) : '',
      actual.length ? svg('path', { id: 'actual-line', d: path(actual), fill: 'none', stroke: '#1a5fb4', 'stroke-width': 2.5 }) : '',
      ...actual.map((pt) => svg('circle', { cx: x(pt.date), cy: y(pt.rate), r: 2.5, fill: '#1a5fb4' },
        svg('title', {}, `${pt.date}: ${pct(pt.rate)}`))),
      svg('text', { x: W - R, y: T + 12, 'text-anchor': 'end', fill: '#1a5fb4' }, `— ${t('actual')}`),
      svg('text', { x: W - R, y: T + 26, 'text-anchor': 'end' }, `- - ${t('expected')}`)));
  }
}

/** The sort after a click on column `key`: descending first, a second click reversing. */
function nextSort(sort, key) {
  return { key, dir: sort?.key === key && sort.dir === 'desc' ? 'asc' : 'desc' };
}

/**
 * A copy of `rows` sorted by `sort` ({key, dir}; null keeps the server's order) on
 * `value(row, key)`: numbers as numbers (none below all), codes and names in Chinese order.
 */
function sorted(rows, sort, value) {
  const out = [...rows];
  if (!sort) return out;
  const { key: k, dir } = sort;
  out.sort((a, b) => {
    const [x, y] = [value(a, k), value(b, k)];
    const c = typeof x === 'number' || typeof y === 'number'
      ? (x ?? -Infinity) - (y ?? -Infinity)
      : String(x ?? '').localeCompare(String(y ?? ''), 'zh-CN');
    return dir === 'asc' ? c : -c;
  });
  return out;
}

/** A table's header row of `columns` ([key, label, numeric]), each sorting it by `onSort(key)`
 * on a click or Enter, the sorted one marked. */
function headRow(columns, sort, onSort) {
  return el('tr', {}, ...columns.map(([k, label, numeric]) => el('th', {
    class: `sortable${numeric ? ' num' : ''}`, 'data-key': k, tabindex: 0,
    'aria-sort': sort?.key === k ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
    onclick: () => onSort(k), onkeydown: (e) => { if (e.key === 'Enter') onSort(k); },
  }, t(label), sort?.key === k ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : '')));
}

/** The towns table's columns: [key in /api/towns, label, numeric]. */
const TOWN_COLUMNS = [
  ['rank', 'rank', true], ['code', 'town', false], ['name', 'unit_name', false],
  ['grids', 'grids', true], ['buildings', 'buildings', true], ['visited_buildings', 'visited_buildings', true],
  ['households', 'households', true], ['visited_households', 'visited_households', true],
  ['visit_rate', 'visit_rate', true],
];

/** A town's row of the towns table; `own` marks the town this server serves. */
function townRow(r, own) {
  return el('tr', { class: own ? 'own-town' : null, 'data-code': r.code, 'aria-current': own ? 'true' : null },
    el('td', { class: 'num' }, String(r.rank)), el('td', {}, r.code),
    el('td', { class: 'name' }, r.name, own ? el('span', { class: 'own-mark' }, t('towns_own')) : ''),
    ...['grids', 'buildings', 'visited_buildings', 'households', 'visited_households']
      .map((k) => el('td', { class: 'num' }, num(r[k]))),
    el('td', { class: 'num visit-rate' }, pct(r.visit_rate)));
}

/** The eight rates of a scorecard card, each coloured by its grade against its target. */
function scorecardRow(card) {
  const keys = ['visit_rate', 'registration_rate', 'attention_rate', 'consistency_rate',
    'linkage_rate', 'awareness_rate', 'satisfaction_rate', 'plate_rate'];
  return el('div', { class: 'cards', id: 'scorecard' }, ...keys.map((k) => {
    const r = card[k];
    return el('div', { class: `card grade-${r.grade ?? 'none'}`, 'data-key': k,
      title: `${num(r.numerator)} / ${num(r.denominator)}` },
    t(`sc_${k}`),
    el('b', {}, r.rate == null ? t('sc_none') : pct(r.rate)),
    el('span', { class: 'muted' }, t('sc_target', { pct: pct(r.target) })));
  }));
}
