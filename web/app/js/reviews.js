// The self-report review panel (申报审核): households residents declared through a QR door
// plate, waiting in the queue of the user's part; the grid's field roles confirm each (it
// enters the register) or reject it (it is deleted). People are masked or in clear as the
// server decides for the role (and audits). And "print plates" for a grid: the A4 PDF of its
// QR door plates.

import { download, get, post } from './api.js';
import { localTime, num, t } from './i18n.js';
import { el } from './dom.js';

export class Reviews {
  constructor(app, panel) {
    this.app = app;
    this.panel = panel;
  }

  enter() { this.render(); }

  leave() {}

  render() {
    const grids = this.app.grids.features.map((f) => f.properties);
    const select = el('select', { id: 'plates-grid' },
      ...grids.map((g) => el('option', { value: g.code }, g.name ? `${g.name}（${g.code}）` : g.code)));
    const base = el('input', { id: 'plates-base', value: location.origin, size: 30 });
    const status = el('p', { id: 'plates-status', class: 'muted', role: 'status' });
    const print = async () => {
      const code = select.value;
      if (!code) return;
      status.textContent = t('loading');
      try {
        const q = new URLSearchParams({ grid: code, base_url: base.value.trim() || location.origin });
        await download(`/api/plates.pdf?${q}`, `plates-${code}.pdf`);
        status.textContent = t('plates_printed', { grid: code });
      } catch (e) {
        status.textContent = t('error', { msg: e.message });
      }
    };
    this.panel.replaceChildren(
      el('h2', {}, t('reviews_title')),
      el('p', { class: 'muted' }, t('reviews_hint')),
      el('div', { id: 'declarations' }, t('loading')),
      el('h3', {}, t('plates_title')),
      grids.length
        ? el('div', { class: 'plates' },
          el('label', {}, t('grid'), ' ', select),
          el('label', {}, t('plates_base'), ' ', base),
          el('button', { id: 'plates-print', type: 'button', onclick: print }, t('plates_print')),
          status)
        : el('p', { class: 'muted' }, t('none')),
    );
    this.load();
  }

  async load() {
    const box = this.panel.querySelector('#declarations');
    if (!box) return;
    let answer;
    try {
      answer = await get('/api/declarations');
    } catch (e) {
      box.replaceChildren(el('p', { class: 'error' }, t('error', { msg: e.message })));
      return;
    }
    const list = answer.declarations ?? [];
    if (!list.length) {
      box.replaceChildren(el('p', { id: 'no-declarations', class: 'muted' }, t('reviews_none')));
      return;
    }
    const clear = list[0].people_view === 'clear';
    box.replaceChildren(
      el('p', { class: 'muted', id: 'declarations-view', 'data-view': list[0].people_view },
        clear ? t('people_clear') : t('people_masked')),
      ...list.map((d) => this.card(d, answer.reviews)));
  }

  card(d, reviews) {
    const note = el('p', { class: 'muted', role: 'status' });
    const act = async (what) => {
      if (what === 'reject' && !window.confirm(t('reviews_reject_confirm'))) return;
      for (const b of card.querySelectorAll('button')) b.disabled = true;
      try {
        const r = await post(`/api/declarations/${d.id}/${what}`);
        if (what === 'confirm') {
          note.textContent = t('reviews_confirmed', { n: num(r.import.people_inserted + r.import.people_updated) });
        } else note.textContent = t('reviews_rejected');
        card.classList.add('done');
        setTimeout(() => this.load(), 1500);
      } catch (e) {
        note.textContent = t('error', { msg: e.message });
        for (const b of card.querySelectorAll('button')) b.disabled = false;
      }
    };
    const card = el('div', { class: 'declaration', 'data-id': d.id, 'data-building': d.building },
      el('div', {}, el('b', {}, d.household_address)),
      el('div', { class: 'muted' },
        [t('grid'), ' ', d.grid ?? t('none'), ' · ', localTime(d.received_at),
          d.nature ? ` · ${d.nature}` : '', d.residence ? ` · ${d.residence}` : '']),
      el('table', { class: 'people' },
        el('tr', {}, el('th', {}, t('name')), el('th', {}, t('id_number')), el('th', {}, t('phone')), el('th', {}, t('relation'))),
        ...d.people.map((p) => el('tr', {},
          el('td', {}, p.name), el('td', {}, p.id_number), el('td', {}, p.phone ?? '–'), el('td', {}, p.relation ?? '–')))),
      reviews
        ? el('div', { class: 'row' },
          el('button', { type: 'button', class: 'confirm', onclick: () => act('confirm') }, t('reviews_confirm')),
          el('button', { type: 'button', class: 'reject', onclick: () => act('reject') }, t('reviews_reject')))
        : null,
      note);
    return card;
  }
}
