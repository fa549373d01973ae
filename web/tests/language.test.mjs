// No English word in the Chinese UI, and no Chinese in the English one: every role walks every
// view it has (and opens a building), and the visible text is checked for words of the other
// language outside codes, numbers, names of formats and the map's attribution.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, launch, screenshot, signIn, startServer } from './support.mjs';

// Words that are the same in both languages: product and format names, units; the language
// switch names the other language in its own words ("English"), and the map's attribution is
// the licence's wording ("© OpenStreetMap contributors").
const ALLOWED = /\b(gridmap|GeoJSON|Excel|PDF|XLSX|CSV|OpenStreetMap contributors|OpenStreetMap|MapLibre|OSM|GPS|QR|km|PP|English)\b/g;

function englishWords(text) {
  return (text.replace(ALLOWED, ' ').match(/\b[A-Za-z]{3,}\b/g) ?? [])
    // Codes and ids: letters stuck to digits or dashes (osm-123, w-310101…).
    .filter((w) => !/^(osm|way|rel|node)$/i.test(w));
}

async function walk(page, shots) {
  const texts = [];
  const views = await page.$$eval('#tabs button:not([hidden])', (bs) => bs.map((b) => b.dataset.view));
  for (const v of views) {
    await page.click(`#tabs [data-view=${v}]`);
    await page.waitForTimeout(1500);
    texts.push([v, await page.evaluate(() => document.body.innerText)]);
    if (shots) await screenshot(page, `30-${shots}-${v}`);
  }
  return texts;
}

describe('one language at a time', () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  for (const user of ['admin', 'supervisor', 'manager', 'leader', 'worker', 'planner']) {
    test(`${user}: the Chinese UI has no English word`, async () => {
      const page = await signIn(browser, server.url, user);
      const found = [];
      for (const [view, text] of await walk(page, `${user}-desktop`)) {
        // The user's own name (in the header and the watermark) is data, not the UI's.
        const words = englishWords(text.replaceAll(user, ' ').replaceAll(/[\w-]*\d[\w-]*/g, ' '));
        if (words.length) found.push(`${view}: ${[...new Set(words)].join(', ')}`);
      }
      // A building panel too.
      const { body } = await api(server.url, 'admin', '/collections/buildings/items?limit=1');
      await page.evaluate(async (id) => {
        const { openBuilding } = await import('/js/building.js');
        await openBuilding(window.gridmap, document.querySelector('#panel'), id);
      }, body.features[0].properties.id);
      const panel = await page.evaluate(() => document.querySelector('#panel').innerText);
      const words = englishWords(panel.replaceAll(user, ' ').replaceAll(/[\w-]*\d[\w-]*/g, ' '));
      if (words.length) found.push(`building: ${[...new Set(words)].join(', ')}`);
      assert.deepEqual(found, []);
      await page.context().close();
    });
  }

  // Every role's every view on a phone: nothing wider than the screen (screenshots kept).
  for (const user of ['admin', 'supervisor', 'manager', 'leader', 'worker', 'planner']) {
    test(`${user} on a phone: every view fits the screen`, async () => {
      const page = await signIn(browser, server.url, user, { viewport: { width: 390, height: 844 } });
      for (const [view] of await walk(page, `${user}-phone`)) {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= 390, `${view} is ${wide} px wide`);
      }
      assert.deepEqual(page.errors, []);
      await page.context().close();
    });
  }

  test('the English UI has no Chinese outside names and addresses', async () => {
    const page = await signIn(browser, server.url, 'supervisor');
    await page.click('#shell [data-lang-toggle]');
    const found = [];
    for (const [view, text] of await walk(page)) {
      // Names of places and grids are Chinese in both languages: only the app's own labels
      // are checked, the text of buttons, headings, labels and table headers.
      const labels = await page.$$eval('button, h2, h3, h4, label, th, .card', (els) => els.map((e) => e.childNodes[0]?.textContent ?? ''));
      // The language switch names Chinese in Chinese.
      const chinese = labels.filter((l) => /[\u4e00-\u9fff]/.test(l) && l.trim() !== '中文');
      if (chinese.length) found.push(`${view}: ${[...new Set(chinese)].join(' | ')}`);
      assert.ok(text.length > 0, view);
    }
    assert.deepEqual(found, []);
    await page.context().close();
  });
});
