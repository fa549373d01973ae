// The building panel: address, grid, houses, visit history and the people living there,
// masked or in clear as the user's role allows (the server decides and audits), and the
// "record a visit" form for grid workers.

import { ApiError, call, get, post } from './api.js';
import { record } from './outbox.js';
import { localTime, num, t } from './i18n.js';
import { el } from './dom.js';
import { reloadTiles, selectBuilding } from './mapview.js';

const OUTCOMES = ['visited', 'nobody_home', 'refused', 'demolished', 'newly_found'];

/** Where the device is, if it will say within 5 s; visits are flagged by distance. */
function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve([p.coords.longitude, p.coords.latitude]),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 5000, maximumAge: 60_000 },
    );
  });
}

export async function openBuilding(app, panel, id) {
  selectBuilding(app.map, id);
  panel.replaceChildren(el('p', {}, t('loading')));
  let b;
  try {
    b = await get(`/api/buildings/${encodeURIComponent(id)}`);
  } catch (e) {
    if (!(e instanceof ApiError) && app.me.capabilities.includes('record_visits')) {
      // No network: the building's details stay on the server, but a visit can be recorded.
      panel.replaceChildren(
        el('div', { class: 'row' }, el('button', { class: 'link', onclick: () => { selectBuilding(app.map, null); app.views[app.view]?.enter(); } }, '←'), el('h2', {}, `${t('building')} ${id}`)),
        el('p', { class: 'warn', id: 'offline-note' }, t('offline_building')),
        visitForm(app, panel, { id }, []));
      return;
    }
    panel.replaceChildren(el('p', { class: 'error' }, e.status === 403 ? t('forbidden') : t('error', { msg: e.message })));
    return;
  }
  const houses = b.houses ?? [];
  const address = b.address ?? houses.find((h) => h.address)?.address ?? '–';
  const back = () => { selectBuilding(app.map, null); app.views[app.view]?.enter(); };
  panel.replaceChildren(
    el('div', { class: 'row' }, el('button', { class: 'link', onclick: back }, '←'), el('h2', {}, `${t('building')} ${b.id}`)),
    el('table', { id: 'building-facts' },
      el('tr', {}, el('th', {}, t('address')), el('td', {}, address)),
      el('tr', {}, el('th', {}, t('grid')), el('td', {}, b.grid ?? t('none'))),
      el('tr', {}, el('th', {}, t('households')), el('td', {}, num(b.households))),
      el('tr', {}, el('th', {}, t('floors')), el('td', {}, b.floors == null ? '–' : num(b.floors))),
      el('tr', {}, el('th', {}, t('outcome')), el('td', {}, t(`visit_${b.visit ?? 'unvisited'}`)))),
    el('h3', {}, `${t('houses')} (${houses.length})`),
    el('p', { id: 'people-view', class: 'muted', 'data-view': b.people_view ?? '' },
      b.people_view === 'clear' ? t('people_clear') : t('people_masked')),
    ...houses.map((h) => el('div', { class: 'house' },
      el('div', {}, el('b', {}, h.address ?? h.id)),
      h.people?.length
        ? el('table', { class: 'people' },
          el('tr', {}, el('th', {}, t('name')), el('th', {}, t('id_number')), el('th', {}, t('phone')), el('th', {}, t('relation'))),
          ...h.people.map((p) => el('tr', {}, el('td', {}, p.name ?? ''), el('td', {}, p.id_number ?? ''), el('td', {}, p.phone ?? ''), el('td', {}, p.relation ?? ''))))
        : el('p', { class: 'muted' }, t('no_people')))),
    b.note ? el('p', { class: 'muted' }, b.note) : '',
    app.me.capabilities.includes('key_subjects') ? keySubjects(app, b.id) : '',
    el('h3', {}, t('visits')),
    el('table', { id: 'visits' },
      el('tr', {}, el('th', {}, t('at')), el('th', {}, t('who')), el('th', {}, t('outcome'))),
      ...(b.visits ?? []).map((v) => el('tr', {}, el('td', {}, localTime(v.time)), el('td', {}, v.worker ?? ''),
        el('td', {}, `${t(`visit_${v.outcome}`)}${v.flagged ? ` ⚠ ${t('flagged')}` : ''}`)))),
    app.me.capabilities.includes('record_visits') ? visitForm(app, panel, b, houses) : '',
  );
}

function visitForm(app, panel, b, houses) {
  // No outcome is chosen for the worker: a visit records what they found, not a default.
  const outcome = el('select', { id: 'visit-outcome', required: true },
    el('option', { value: '', disabled: true, selected: true }, t('choose_outcome')),
    ...OUTCOMES.map((o) => el('option', { value: o }, t(`visit_${o}`))));
  const house = houses.length ? el('select', { id: 'visit-house' }, el('option', { value: '' }, '–'),
    ...houses.map((h) => el('option', { value: h.id }, h.address ?? h.id))) : null;
  const note = el('input', { id: 'visit-note', size: 24 });
  // The residents' two answers (知晓率, 满意率): asked at the door, left blank when not asked.
  const knows = el('select', { id: 'visit-knows' }, el('option', { value: '' }, '–'),
    el('option', { value: 'yes' }, t('yes')), el('option', { value: 'no' }, t('no')));
  const satisfaction = el('select', { id: 'visit-satisfaction' }, el('option', { value: '' }, '–'),
    ...[5, 4, 3, 2, 1].map((n) => el('option', { value: String(n) }, '★'.repeat(n))));
  const result = el('div', { id: 'visit-result', role: 'status' });
  const submit = async (ev) => {
    ev.preventDefault();
    const time = new Date().toISOString();
    const at = await position();
    try {
      const how = await record(app.me.username, {
        building: b.id, house: house?.value || undefined, outcome: outcome.value, time,
        note: note.value.trim() || undefined, lon: at?.[0], lat: at?.[1],
        knows_worker: knows.value ? knows.value === 'yes' : undefined,
        satisfaction: satisfaction.value ? Number(satisfaction.value) : undefined,
      });
      if (how === 'queued') {
        if (outcome.value === 'visited') app.visitedNow?.set(b.id, b.households ?? 0);
        form.reset();
        result.className = 'warn';
        result.id = 'visit-queued';
        result.textContent = t('visit_queued');
        return;
      }
      reloadTiles(app.map, 'buildings');
      // Lists of unvisited buildings (shared by the server for a few seconds) leave it out now.
      if (outcome.value === 'visited') app.visitedNow?.set(b.id, b.households ?? 0);
      await openBuilding(app, panel, b.id);
      panel.append(el('p', { class: 'ok', id: 'visit-recorded' }, t('recorded')));
    } catch (e) {
      result.className = 'error';
      result.textContent = t('error', { msg: e.message });
    }
  };
  const form = el('form', { id: 'visit-form', onsubmit: submit },
    el('h3', {}, t('record_visit')),
    el('label', { class: 'row' }, t('outcome'), outcome),
    house ? el('label', { class: 'row' }, t('houses'), house) : '',
    el('label', { class: 'row' }, t('note'), note),
    el('label', { class: 'row' }, t('knows_worker'), knows),
    el('label', { class: 'row' }, t('satisfaction'), satisfaction),
    el('button', { class: 'primary', type: 'submit' }, t('record')),
    result);
  return form;
}

/**
 * Key units, places and persons (重点单位、场所、人员) of the building with their attention
 * level (关注等级), for the roles allowed to see them (admins, grid leaders): the list, a level
 * to set on each, and a form to add one. The server decides, seals and audits.
 */
function keySubjects(app, building) {
  const box = el('div', { id: 'key-subjects' }, el('h3', {}, t('key_subjects')), el('p', {}, t('loading')));
  const load = async () => {
    let all;
    try {
      all = await get('/api/key-subjects');
    } catch (e) {
      box.replaceChildren(el('h3', {}, t('key_subjects')), el('p', { class: 'error' }, t('error', { msg: e.message })));
      return;
    }
    const mine = all.subjects.filter((s) => s.building === building);
    const levels = all.attention_levels;
    const level = (s) => {
      const select = el('select', { 'data-subject': s.id, 'aria-label': t('attention') },
        el('option', { value: '' }, t('attention_unset')),
        ...levels.map((label, i) => el('option', { value: String(i + 1), selected: s.attention === i + 1 }, label)));
      select.addEventListener('change', async () => {
        try {
          await call('PUT', `/api/key-subjects/${encodeURIComponent(s.id)}`, { json: { attention: select.value ? Number(select.value) : null, note: s.note ?? undefined } });
          await load();
        } catch (e) { box.append(el('p', { class: 'error' }, t('error', { msg: e.message }))); }
      });
      return select;
    };
    const kind = el('select', { id: 'key-kind' }, ...Object.keys(all.categories).map((k) => el('option', { value: k }, t(`key_${k}`))));
    const category = el('select', { id: 'key-category' });
    const fill = () => category.replaceChildren(...all.categories[kind.value].map((c) => el('option', { value: c }, c)));
    kind.addEventListener('change', fill);
    fill();
    const name = el('input', { id: 'key-name', maxlength: 64, required: true });
    const attention = el('select', { id: 'key-attention' }, el('option', { value: '' }, t('attention_unset')),
      ...levels.map((label, i) => el('option', { value: String(i + 1) }, label)));
    const add = async (ev) => {
      ev.preventDefault();
      try {
        await post('/api/key-subjects', {
          kind: kind.value, category: category.value, name: name.value.trim(), building,
          attention: attention.value ? Number(attention.value) : undefined,
        });
        await load();
      } catch (e) { box.append(el('p', { class: 'error' }, t('error', { msg: e.message }))); }
    };
    box.replaceChildren(
      el('h3', {}, `${t('key_subjects')} (${mine.length})`),
      el('p', { class: 'muted' }, t('key_subjects_note')),
      mine.length ? el('table', { class: 'people', id: 'key-subject-list' },
        el('tr', {}, el('th', {}, t('key_kind')), el('th', {}, t('key_category')), el('th', {}, t('name')), el('th', {}, t('attention'))),
        ...mine.map((s) => el('tr', {}, el('td', {}, t(`key_${s.kind}`)), el('td', {}, s.category), el('td', {}, s.name), el('td', {}, level(s)))))
        : el('p', { class: 'muted' }, t('none')),
      el('form', { id: 'key-subject-form', onsubmit: add },
        el('label', { class: 'row' }, t('key_kind'), kind),
        el('label', { class: 'row' }, t('key_category'), category),
        el('label', { class: 'row' }, t('name'), name),
        el('label', { class: 'row' }, t('attention'), attention),
        el('button', { type: 'submit' }, t('key_add'))));
  };
  load();
  return box;
}
