// Printing the map (to paper or to PDF through the browser's print dialog): the map as it is
// on screen, with a title, the legend of what is shown, a scale bar, a north arrow, who printed
// it and when, and the watermark over it all.

import { el } from './dom.js';
import { localTime, t } from './i18n.js';

/** Metres a CSS pixel of `map` spans at its centre (MapLibre's tiles are 512 px). */
function metresPerPixel(map) {
  const { lat } = map.getCenter();
  return (40_075_016.686 * Math.cos((lat * Math.PI) / 180)) / (512 * 2 ** map.getZoom());
}

/** A round length for a scale bar about a fifth of `widthM` metres. */
function scaleLength(widthM) {
  const steps = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];
  return [...steps].reverse().find((n) => n <= widthM / 5) ?? steps[0];
}

/** Lays out the print sheet for `app`'s map under `title` and opens the print dialog; the
 * legend is `key` when given, else the map's own legend. */
export function printMap(app, title, key = null) {
  const map = app.map;
  const canvas = map.getCanvas();
  // The map keeps its drawing buffer (see `createMap`), so the canvas holds what is shown.
  const image = canvas.toDataURL('image/png');
  const widthM = metresPerPixel(map) * canvas.clientWidth;
  const length = scaleLength(widthM);
  const legend = document.querySelector('#legend');
  const now = new Date().toISOString();
  const sheet = el('div', { id: 'print-sheet' },
    el('h1', {}, title),
    el('div', { class: 'print-map' },
      el('img', { src: image, alt: title }),
      el('div', { class: 'print-north', style: `transform: rotate(${-map.getBearing()}deg)` }, '▲', el('br'), t('north'))),
    el('div', { class: 'print-foot' },
      el('div', { class: 'print-scale' },
        el('div', { class: 'bar', style: `width:${((100 * length) / widthM).toFixed(2)}%` }),
        el('span', {}, length >= 1000 ? `${length / 1000} km` : `${length} m`)),
      key ? el('div', { class: 'print-legend' }, key)
        : legend && !legend.hidden ? el('div', { class: 'print-legend' }, ...[...legend.childNodes].map((n) => n.cloneNode(true))) : '',
      el('div', { class: 'print-stamp' }, t('printed_by', { who: app.me.username, at: localTime(now) }), el('br'), '© OpenStreetMap contributors')));
  document.querySelector('#print-sheet')?.remove();
  document.body.append(sheet);
  window.print();
}
