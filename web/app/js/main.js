// The app's shell: sign-in, the tabs, the watermark, and the map shared by every view.
// `window.gridmap` exposes the live objects to the browser tests and to curious users.

import { call, get, setToken, token, whenUnauthorized } from './api.js';
import { setLang, currentLang, t, translate } from './i18n.js';
import { createMap, fitTo, idle, showGridLabels } from './mapview.js';
import { Editor } from './editor.js';
import { Coverage } from './coverage.js';
import { Dashboard } from './dashboard.js';
import { Plans } from './plans.js';
import { Reviews } from './reviews.js';
import { openBuilding } from './building.js';
import { flush, onChange, rejected, waiting } from './outbox.js';
import { forget, keepArea, registerWorker } from './offline.js';
import { boundsOf } from './mapview.js';

const $ = (sel) => document.querySelector(sel);
/** Where an unsaved boundary edit waits through a sign-in after the session expired. */
const UNSAVED = 'gridmap.unsaved-edit';
const app = { me: null, grids: null, map: null, views: {}, view: null, ready: null, visitedNow: new Map() };
/** Set when the page reloads on purpose, an unsaved edit kept or given up already: the
 * browser's "leave the page?" question would then only stop the reload. */
let reloading = false;
window.gridmap = app;

function showLogin(message = '') {
  $('#shell').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message;
  $('#login [name=username]').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  try {
    const { body } = await call('POST', '/api/login', {
      json: { username: form.get('username'), password: form.get('password') },
    });
    setToken(body.token);
    ev.target.reset();
    await forget(); // nothing of another user's session stays in this browser's caches
    // Signing in again after a session expired: start clean, with no tile of the last
    // session's scope left in the map's cache.
    if (app.me) {
      // An edit the expired session left unsaved goes through the reload with the user.
      const kept = app.views.map?.keepable?.();
      if (kept) sessionStorage.setItem(UNSAVED, JSON.stringify({ ...kept, user: form.get('username') }));
      reloading = true;
      location.reload();
    } else await start();
  } catch (e) {
    $('#login-error').textContent = t('login_failed', { msg: e.message });
  }
}

/** Signs out: the server revokes the token (best effort: offline, it still expires), then the
 * page forgets it. */
async function signOut() {
  if (!leaveAllowed()) return;
  try { await call('POST', '/api/logout'); } catch { /* the token dies with its lifetime anyway */ }
  setToken(null);
  await forget();
  reloading = true;
  location.reload();
}

/** The watermark: who is looking, and when, over everything that may show personal data. */
function drawWatermark() {
  const now = new Date();
  const stamp = `${app.me.username} · ${now.toLocaleString(currentLang() === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false })}`;
  const wm = $('#watermark');
  wm.replaceChildren(...Array.from({ length: 60 }, () => {
    const s = document.createElement('span');
    s.textContent = stamp;
    return s;
  }));
  wm.dataset.text = stamp;
}

/** Whether the current view may be left: an unsaved boundary edit asks first. */
function leaveAllowed() {
  return !app.views[app.view]?.dirty?.() || window.confirm(t('unsaved_confirm'));
}

function switchView(name) {
  if (app.view === name) return;
  if (app.view && !leaveAllowed()) return;
  app.views[app.view]?.leave?.();
  app.view = name;
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.view === name);
  $('#dashboard').hidden = name !== 'dashboard';
  $('#panel').hidden = name === 'dashboard';
  app.views[name].enter();
}

async function start() {
  app.me = await get('/api/me');
  $('#login').hidden = true;
  $('#shell').hidden = false;
  translate();
  $('#who').textContent = `${app.me.username}（${t(`role_${app.me.role}`)} · ${app.me.scope}）`;
  drawWatermark();
  app.grids = await get('/api/grids');
  if (!app.map) {
    app.map = createMap('map');
    await new Promise((resolve) => app.map.once('load', resolve));
  }
  // The user's own part of the org tree: a grid leader opens on their grid.
  fitTo(app.map, app.grids.features.map((f) => f.geometry));
  showGridLabels(app.map, app.grids.features);
  const panel = $('#panel');
  app.views = {
    map: new Editor(app, panel),
    coverage: new Coverage(app, panel),
    dashboard: new Dashboard(app, $('#dashboard')),
    plans: new Plans(app, panel),
    reviews: new Reviews(app, panel),
  };
  // Planning is for planners and the town; a grid worker has no use for it.
  const plansTab = document.querySelector('#tabs [data-view=plans]');
  plansTab.hidden = !app.me.capabilities.includes('plan');
  app.view = null;
  // Each role lands where its day starts: supervisors and grid workers on the coverage of their
  // area, the roles that draw grids on the grids.
  switchView(['town_supervisor', 'grid_worker'].includes(app.me.role) ? 'coverage' : 'map');
  setInterval(drawWatermark, 60_000);
  app.map.on('click', 'buildings', (e) => {
    if (app.views[app.view]?.busy?.()) return; // drawing: clicks belong to the editor
    const id = e.features?.[0]?.properties?.id;
    if (id) openBuilding(app, panel, id);
  });
  app.map.on('mouseenter', 'buildings', () => { app.map.getCanvas().style.cursor = 'pointer'; });
  app.map.on('mouseleave', 'buildings', () => { app.map.getCanvas().style.cursor = ''; });
  await idle(app.map);
  // An edit left unsaved when the session expired: back in the editor, still unsaved.
  const unsaved = JSON.parse(sessionStorage.getItem(UNSAVED) ?? 'null');
  sessionStorage.removeItem(UNSAVED);
  if (unsaved && unsaved.user === app.me.username) {
    switchView('map');
    await app.views.map.resume(unsaved);
  }
  // Visits waiting in this browser: counted in the header, sent when the network is back.
  const showOutbox = async () => {
    const [n, bad] = await Promise.all([waiting(app.me.username), rejected(app.me.username)]);
    const box = $('#outbox');
    box.hidden = n.length + bad.length === 0;
    box.textContent = [n.length ? t('outbox_waiting', { n: n.length }) : '', bad.length ? t('outbox_rejected', { n: bad.length }) : '']
      .filter(Boolean).join(' · ');
    box.dataset.waiting = String(n.length);
  };
  onChange(showOutbox);
  const send = () => flush(app.me.username).then(showOutbox);
  window.addEventListener('online', send);
  setInterval(send, 30_000);
  await send();
  // A grid worker's grid is kept for the field: the tiles of z15–18 over their grid.
  if (app.me.role === 'grid_worker' && app.grids.features.length) {
    app.offlineReady = registerWorker()
      .then(() => keepArea(boundsOf(app.grids.features.map((f) => f.geometry))))
      .then((n) => { app.offlineTiles = n; });
  }
}

/** Re-renders the current view in the other language. */
function toggleLang() {
  setLang(currentLang() === 'zh' ? 'en' : 'zh');
  if (app.me) {
    $('#who').textContent = `${app.me.username}（${t(`role_${app.me.role}`)} · ${app.me.scope}）`;
    drawWatermark();
    const v = app.view;
    app.view = null;
    app.views[v]?.leave?.();
    switchView(v);
  }
}

function boot() {
  translate();
  $('#login').addEventListener('submit', signIn);
  $('#sign-out').addEventListener('click', signOut);
  for (const b of document.querySelectorAll('[data-lang-toggle]')) b.addEventListener('click', toggleLang);
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => switchView(b.dataset.view));
  whenUnauthorized(() => showLogin(t('session_expired')));
  // Keys belong to the view (the editor's Ctrl+Z, Ctrl+Y and Esc).
  document.addEventListener('keydown', (ev) => {
    if (app.views[app.view]?.onKey?.(ev)) ev.preventDefault();
  });
  // Reloading or closing the page with an unsaved edit asks first.
  window.addEventListener('beforeunload', (ev) => {
    if (!reloading && app.views[app.view]?.dirty?.()) ev.preventDefault();
  });
  app.ready = token() ? start().catch(() => showLogin()) : Promise.resolve(showLogin());
}

boot();
