// Grid labels drawn by MapLibre (a symbol layer, with collision handling) from glyphs this
// server makes from its CJK font: nothing fetched from the internet, Chinese names legible.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launch, mapIdle, screenshot, signIn, startServer } from './support.mjs';

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

describe('grid labels', () => {
  test('at z14 the grid labels are a symbol layer drawn with the server\'s CJK glyphs', async () => {
    // Every glyph answer, from the page's first request on.
    const glyphs = [];
    const page = await signIn(browser, server.url, 'admin', {
      onPage: (p) => p.on('response', (r) => {
        if (new URL(r.url()).pathname.startsWith('/fonts/')) glyphs.push({ url: r.url(), status: r.status() });
      }),
    });

    // The administrator's map opens on the whole town: at z14 over its centre.
    await page.evaluate(() => window.gridmap.map.jumpTo({ zoom: 14 }));
    await mapIdle(page);
    await page.waitForFunction(() => window.gridmap.map.queryRenderedFeatures({ layers: ['grid-labels'] }).length > 0,
      null, { timeout: 20_000 });
    await mapIdle(page);

    const labels = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['grid-labels'] })
      .map((f) => ({ code: f.properties.code, name: f.properties.name })));
    assert.ok(labels.length > 0, 'no label drawn');
    assert.ok(labels.every((l) => typeof l.code === 'string' && l.code.length > 0), JSON.stringify(labels));
    // Each grid is labelled once (one point per grid, not one per tile).
    const codes = labels.map((l) => l.code);
    assert.equal(new Set(codes).size, codes.length, JSON.stringify(codes));
    assert.ok(labels.some((l) => /[\u4e00-\u9fff]/.test(l.name ?? '')), `no Chinese name: ${JSON.stringify(labels)}`);

    // The glyphs came from this server, answered: Latin (codes) and CJK (names).
    const urls = glyphs.map((g) => g.url).map((u) => decodeURIComponent(new URL(u).pathname));
    assert.ok(urls.some((u) => u === '/fonts/WenQuanYi Micro Hei/0-255.pbf'), JSON.stringify(urls));
    assert.ok(urls.some((u) => /^\/fonts\/WenQuanYi Micro Hei\/(\d+)-\d+\.pbf$/.test(u)
      && Number(u.match(/\/(\d+)-/)[1]) >= 0x4e00), `no CJK range asked for: ${JSON.stringify(urls)}`);
    for (const g of glyphs) assert.equal(g.status, 200, g.url);
    const statuses = await page.evaluate(async () => {
      const r = await fetch('/fonts/WenQuanYi%20Micro%20Hei/19968-20223.pbf');
      return [r.status, r.headers.get('content-type'), r.headers.get('cache-control')];
    });
    assert.deepEqual(statuses, [200, 'application/x-protobuf', 'public, max-age=86400']);

    // No HTML label markers: the map draws the labels.
    assert.equal(await page.locator('.grid-label').count(), 0);
    await screenshot(page, '40-grid-labels-z14');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('a server without a CJK font (glyphs 404) gets the HTML labels instead', async () => {
    const page = await signIn(browser, server.url, 'admin', {
      onPage: (p) => p.route('**/fonts/**', (route) => route.fulfill({
        status: 404, contentType: 'application/json',
        body: JSON.stringify({ error: 'no font with Chinese glyphs: install the Debian package fonts-wqy-microhei', code: 'invalid_request' }),
      })),
    });
    await page.evaluate(() => window.gridmap.map.jumpTo({ zoom: 14 }));
    await mapIdle(page);
    await page.waitForFunction(() => document.querySelectorAll('.grid-label:not([hidden])').length > 0);
    const text = await page.locator('.grid-label').first().textContent();
    assert.match(text, /^\d{12}-\d{2}/);
    assert.equal(await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['grid-labels'] }).length), 0);
    // Zoomed out past z13 the markers hide, as the symbol layer would.
    await page.evaluate(() => window.gridmap.map.jumpTo({ zoom: 12 }));
    await mapIdle(page);
    assert.equal(await page.locator('.grid-label:not([hidden])').count(), 0);
    await page.context().close();
  });
});
