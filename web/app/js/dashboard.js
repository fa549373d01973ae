// The progress dashboard: per grid or per village, the visit rate, the linkage rate, the rate
// expected by today and the ranking, exactly as GET /api/stats gives them; a chart of visits
// over time against the expected line; export of the same table to XLSX.

import { download, get } from './api.js';
import { num, pct, t } from './i18n.js';
import { el, svg } from './dom.js';

export class Dashboard {
  constructor(app, page) {
    this.app = app;
    this.page = page;
    this.by = 'grid';
    this.focus = null; // {by, code} of the chart, null for everything in scope
    this.sort = null; // {key, dir} of the table, null for the server's ranking
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
    const dir = this.sort?.key === key && this.sort.dir === 'desc' ? 'asc' : 'desc';
    this.sort = { key, dir };
    this.render();
  }

  /** The name of a row's grid or village, where gridmap knows it. */
  nameOf(r) {
    if (this.by === 'grid') return r.name ?? this.app.grids.features.find((f) => f.properties.code === r.grid)?.properties.name ?? '';
    return r.village_name ?? r.name ?? '';
  }

  enter() { this.render(); }

  leave() {}

  async render() {
    this.page.replaceChildren(el('p', {}, t('loading')));
    const [stats, card] = await Promise.all([get(`/api/stats?by=${this.by}`), get('/api/scorecard')]);
    this.stats = stats;
    const rows = [...stats.rows];
    if (this.sort) {
      const { key: k, dir } = this.sort;
      const value = (r) => (k === 'name' ? this.nameOf(r) : r[k]);
      rows.sort((a, b) => {
        const [x, y] = [value(a), value(b)];
        const c = typeof x === 'number' || typeof y === 'number'
          ? (x ?? -Infinity) - (y ?? -Infinity)
          : String(x ?? '').localeCompare(String(y ?? ''), 'zh-CN');
        return dir === 'asc' ? c : -c;
      });
    }
    const sum = (k) => rows.reduce((a, r) => a + (r[k] ?? 0), 0);
    const households = sum('households');
    const visited = sum('visited_households');
    const key = this.by;
    this.page.replaceChildren(
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
        el('tr', {}, ...[
          ['rank', 'rank', true], [key, key === 'grid' ? 'grid' : 'village', false], ['name', 'unit_name', false],
          ['buildings', 'buildings', true], ['households', 'households', true],
          ['visited_households', 'visited_households', true], ['visit_rate', 'visit_rate', true],
          ['expected_rate', 'expected_rate', true], ['linkage_rate', 'linkage_rate', true],
          ['flagged_visits', 'flagged_visits', true],
        ].map(([k, label, numeric]) => el('th', {
          class: `sortable${numeric ? ' num' : ''}`, 'data-key': k, tabindex: 0,
          'aria-sort': this.sort?.key === k ? (this.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
          onclick: () => this.sortBy(k), onkeydown: (e) => { if (e.key === 'Enter') this.sortBy(k); },
        }, t(label), this.sort?.key === k ? (this.sort.dir === 'asc' ? ' ▲' : ' ▼') : ''))),
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
