// The web map in a real browser: headless Debian Chromium (WebGL2 on SwiftShader) against the
// real `gridmap serve` with the demo project. Screenshots of each main screen are written to
// web/test-output/ as artefacts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { api, launch, mapIdle, outDir, rendered, screenshot, signIn, startServer } from './support.mjs';

const LEADER_GRID = '310101001002-03';
const VILLAGE = '310101001002';

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

/** The pixel position of lon/lat on the page. */
async function pagePoint(page, lonlat) {
  const box = await page.locator('canvas.maplibregl-canvas').first().boundingBox();
  const p = await page.evaluate((c) => window.gridmap.map.project(c), lonlat);
  return [box.x + p.x, box.y + p.y];
}

/** A grid's outer ring as fetched by the app. */
async function ringOf(page, code) {
  return page.evaluate((c) => {
    const f = window.gridmap.grids.features.find((g) => g.properties.code === c);
    return f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
  }, code);
}

/** Clicks a polygon on the map, vertex by vertex (page pixels), closing it on the first. */
async function clickPolygon(page, points) {
  for (const [x, y] of [...points, points[0]]) {
    await page.mouse.move(x, y, { steps: 3 });
    await page.mouse.click(x, y);
    await page.waitForTimeout(150);
  }
}

describe('web map', () => {
  test('a grid leader signs in and the map opens on their grid, with its buildings', async () => {
    const page = await signIn(browser, server.url, 'leader');
    assert.deepEqual(await rendered(page, ['grids-line'], 'code'), [LEADER_GRID]);
    const buildings = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['buildings'] }).map((f) => f.properties.grid));
    assert.ok(buildings.length > 10, `only ${buildings.length} buildings drawn`);
    assert.ok(buildings.every((g) => g === LEADER_GRID), 'a building of another grid is drawn');
    // The neighbours are drawn read-only, with their codes, so that the edges snapped to are seen.
    // Their labels are the map's own (a symbol layer), greyed, beside the leader's grid's.
    await page.waitForFunction(() => window.gridmap.map.queryRenderedFeatures({ layers: ['grid-labels-neighbours'] }).length > 0);
    await mapIdle(page);
    const labelled = await rendered(page, ['grid-labels-neighbours'], 'code');
    assert.ok(labelled.length > 0 && !labelled.includes(LEADER_GRID), JSON.stringify(labelled));
    assert.deepEqual(await rendered(page, ['grid-labels'], 'code'), [LEADER_GRID]);
    assert.equal(await page.locator('.grid-label').count(), 0, 'HTML labels beside the map\'s');
    const neighbours = await rendered(page, ['neighbours-line'], 'code');
    assert.ok(neighbours.length > 0 && !neighbours.includes(LEADER_GRID), JSON.stringify(neighbours));
    // The basemap is this server's own tiles: roads are drawn around the grid.
    await page.evaluate(() => window.gridmap.map.zoomTo(15, { duration: 0 }));
    await mapIdle(page);
    const roads = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['roads-major', 'roads-minor', 'water'] }).length);
    assert.ok(roads > 0, 'no basemap roads or water drawn');
    const landuse = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['landuse'] }).length);
    assert.ok(landuse > 0, 'no land use drawn');
    assert.match(await page.textContent('#watermark'), /leader · \d{4}/);
    await screenshot(page, '01-map-grid-leader');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('an administrator sees every grid of the town', async () => {
    const page = await signIn(browser, server.url, 'admin');
    const { body } = await api(server.url, 'admin', '/api/grids');
    const drawn = await rendered(page, ['grids-line'], 'code');
    assert.ok(drawn.length > 5, `only ${drawn.length} grids drawn`);
    for (const code of drawn) assert.ok(body.features.some((f) => f.properties.code === code));
    await page.context().close();
  });

  test('drawing a grid over a neighbour shows the overlap before saving', async () => {
    const page = await signIn(browser, server.url, 'manager');
    const ring = await ringOf(page, LEADER_GRID);
    await page.evaluate((r) => window.gridmap.map.jumpTo({ center: r[0], zoom: 17 }), ring);
    await mapIdle(page);
    await page.click('#draw-new');
    const [cx, cy] = await pagePoint(page, ring[0]);
    await clickPolygon(page, [[cx - 60, cy - 60], [cx + 60, cy - 60], [cx + 60, cy + 60], [cx - 60, cy + 60]]);
    await page.waitForSelector('#verdict[data-ok="false"]');
    const text = await page.textContent('#verdict');
    assert.match(text, /重叠/);
    assert.match(text, new RegExp(LEADER_GRID));
    // The overlap is drawn on the map, from the geometry /api/validate returned.
    await mapIdle(page);
    const drawn = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['check-fill'] }).length);
    assert.ok(drawn > 0, 'the overlap is not drawn');
    await screenshot(page, '02-draw-overlap-warning');
    // Saving without force is refused and explained; nothing is saved.
    await page.fill('#reason', '测试');
    await page.click('#save');
    await page.waitForSelector('#save-result:not(:empty)');
    const { body } = await api(server.url, 'admin', '/api/grids');
    assert.equal(body.features.filter((f) => f.properties.village === VILLAGE).length,
      (await page.evaluate(() => window.gridmap.grids.features.length)));
    await page.context().close();
  });

  test('vertices clicked near a neighbour snap to its vertices exactly', async () => {
    const page = await signIn(browser, server.url, 'manager');
    const ring = await ringOf(page, LEADER_GRID);
    await page.evaluate((r) => window.gridmap.map.jumpTo({ center: r[1], zoom: 16.5 }), ring);
    await mapIdle(page);
    // Three vertices of the grid that lie on screen, at least 60 px apart.
    const picks = [];
    for (const c of ring) {
      const p = await pagePoint(page, c);
      const onScreen = p[0] > 20 && p[0] < 880 && p[1] > 60 && p[1] < 780;
      if (onScreen && picks.every((q) => Math.hypot(q[1][0] - p[0], q[1][1] - p[1]) > 60)) picks.push([c, p]);
      if (picks.length === 3) break;
    }
    assert.equal(picks.length, 3);
    await page.click('#draw-new');
    await page.waitForFunction(() => window.gridmap.views.map.targets.length > 0);
    const offsets = [[4, 3], [-3, 4], [3, -4]];
    await clickPolygon(page, picks.map(([, p], i) => [p[0] + offsets[i][0], p[1] + offsets[i][1]]));
    await page.waitForSelector('#verdict[data-ok]');
    const { drawn, targets } = await page.evaluate(() => ({
      drawn: window.gridmap.views.map.candidate().geometry.coordinates[0],
      targets: window.gridmap.views.map.targets.flat(),
    }));
    const isTarget = (c) => targets.some((v) => v[0] === c[0] && v[1] === c[1]);
    assert.equal(drawn.length, 4, JSON.stringify(drawn));
    for (const c of drawn) assert.ok(isTarget(c), `${c} is not exactly a neighbour's vertex`);
    await page.context().close();
  });

  test('a grid leader reshapes their grid, saves it, and sees it in the tiles after reload', async () => {
    let page = await signIn(browser, server.url, 'leader');
    await page.click(`#grid-list tr[data-code="${LEADER_GRID}"]`);
    await page.click('#edit-shape');
    await page.waitForSelector('#verdict[data-ok]');
    const ring = await ringOf(page, LEADER_GRID);
    // Pull one vertex a little towards the inside: a gap, no overlap.
    const cx = ring.reduce((a, c) => a + c[0], 0) / ring.length;
    const cy = ring.reduce((a, c) => a + c[1], 0) / ring.length;
    const [x0, y0] = await pagePoint(page, ring[1]);
    const [xc, yc] = await pagePoint(page, [cx, cy]);
    const len = Math.hypot(xc - x0, yc - y0);
    const [x1, y1] = [x0 + ((xc - x0) / len) * 25, y0 + ((yc - y0) / len) * 25];
    const shape = () => page.evaluate(() => JSON.stringify(window.gridmap.views.map.candidate().geometry));
    const original = await shape();
    const drag = async () => {
      await page.mouse.move(x0, y0);
      await page.mouse.down();
      await page.mouse.move(x1, y1, { steps: 8 });
      await page.mouse.up();
      await page.waitForFunction(() => document.querySelector('#undo') && !document.querySelector('#undo').disabled);
    };
    await drag();
    assert.notEqual(await shape(), original);
    // Undo puts the vertex back; then drag it again.
    await page.click('#undo');
    assert.equal(await shape(), original);
    await drag();
    await page.waitForFunction(() => document.querySelector('#verdict')?.dataset.ok === 'true');
    await screenshot(page, '03-edit-grid');
    await page.fill('#reason', '按实际路网调整边界');
    await page.click('#save');
    await page.waitForSelector('#saved');
    assert.match(await page.textContent('#saved'), /2/);
    await page.context().close();

    // A new session: the grid tile carries version 2, and the history lists both versions.
    page = await signIn(browser, server.url, 'leader');
    const versions = await page.evaluate(() => [...new Set(window.gridmap.map.queryRenderedFeatures({ layers: ['grids-line'] }).map((f) => f.properties.version))]);
    assert.deepEqual(versions, [2]);
    await page.click(`#grid-list tr[data-code="${LEADER_GRID}"]`);
    await page.waitForSelector('#history tr:nth-child(3)');
    await page.click('#diff');
    await page.waitForFunction(() => document.querySelector('#diff-legend')?.textContent !== '');
    await mapIdle(page);
    const sides = await page.evaluate(() => [...new Set(window.gridmap.map.queryRenderedFeatures({ layers: ['diff-line'] }).map((f) => f.properties.side))].sort());
    assert.deepEqual(sides, ['a', 'b']);
    await screenshot(page, '04-history-diff');
    await page.context().close();
  });

  test('a newer edit by someone else is explained and merged with mine, never overwritten', async () => {
    const page = await signIn(browser, server.url, 'leader');
    await page.click(`#grid-list tr[data-code="${LEADER_GRID}"]`);
    await page.click('#edit-shape');
    await page.waitForSelector('#verdict[data-ok]');
    // Meanwhile the village manager moves one vertex a metre, with a reason.
    const grid = await api(server.url, 'manager', `/api/grids/${LEADER_GRID}`);
    const version = grid.body.properties.version;
    const outer = (g) => (g.type === 'Polygon' ? g.coordinates[0] : g.coordinates[0][0]);
    const ring = outer(grid.body.geometry);
    // Inwards, towards the centre, so that their change makes no overlap.
    const n = ring.length - 1;
    const [cx, cy] = [ring.slice(0, n).reduce((a, c) => a + c[0], 0) / n, ring.slice(0, n).reduce((a, c) => a + c[1], 0) / n];
    ring[2] = [ring[2][0] + (cx - ring[2][0]) * 0.02, ring[2][1] + (cy - ring[2][1]) * 0.02];
    const theirs = [...ring[2]];
    const put = await api(server.url, 'manager', `/api/grids/${LEADER_GRID}`, {
      method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': `"${version}"` },
      body: JSON.stringify({ feature: grid.body, reason: '村里统一核对', force: true }),
    });
    assert.equal(put.status, 200);
    // The leader moves another vertex (the fourth) a little, then saves: 412.
    await page.evaluate(() => {
      const ed = window.gridmap.views.map;
      const g = ed.currentGeometry();
      ed.edit.undo.push(structuredClone(g));
      g.coordinates[0][4] = [g.coordinates[0][4][0], g.coordinates[0][4][1] + 0.00001];
      ed.draw.updateFeatureGeometry(ed.edit.featureId, g);
      ed.lastGeometry = ed.currentGeometry();
    });
    const mine = await page.evaluate(() => window.gridmap.views.map.currentGeometry().coordinates[0][4]);
    await page.fill('#reason', '我的修改');
    await page.click('#save');
    await page.waitForSelector('#stale');
    const text = await page.textContent('#stale');
    assert.match(text, /manager/);
    assert.match(text, /村里统一核对/);
    assert.doesNotMatch(text, /\dT\d|Z\b/, 'a raw UTC time is shown');
    assert.equal(await page.$('#reapply'), null, 'a silent overwrite is still offered');
    // Different vertices: merged, shown, checked, then saved by the user.
    await page.click('#merge');
    await page.waitForSelector('#verdict[data-ok]');
    assert.equal(await page.inputValue('#reason'), '我的修改');
    await page.click('#save');
    await page.waitForSelector('#saved');
    const saved = outer((await api(server.url, 'admin', `/api/grids/${LEADER_GRID}`)).body.geometry);
    const near = (a, b) => Math.abs(a[0] - b[0]) < 1e-8 && Math.abs(a[1] - b[1]) < 1e-8;
    assert.ok(near(saved[2], theirs), `the colleague's vertex was lost: ${saved[2]} vs ${theirs}`);
    assert.ok(near(saved[4], mine), `my vertex was lost: ${saved[4]} vs ${mine}`);
    await page.context().close();
  });

  test('a grid leader edits with the keyboard, is asked before losing an edit, and restores a version', async () => {
    const page = await signIn(browser, server.url, 'leader');
    // A leader edits the grid they lead; drawing new grids is for the village and above.
    assert.equal(await page.$('#draw-new'), null);
    await page.click(`#grid-list tr[data-code="${LEADER_GRID}"]`);
    await page.waitForSelector('#history tr[data-version]');
    await page.click('#edit-shape');
    await page.waitForSelector('#verdict[data-ok]');
    const shape = () => page.evaluate(() => JSON.stringify(window.gridmap.views.map.candidate().geometry));
    const original = await shape();
    await page.evaluate(() => {
      const ed = window.gridmap.views.map;
      const g = ed.currentGeometry();
      ed.edit.undo.push(structuredClone(g));
      ed.edit.redo = [];
      // Vertex 1 pulled a tenth of the way to the centre: a gap beside the neighbours.
      const r = g.coordinates[0];
      const n = r.length - 1;
      const [cx, cy] = [r.slice(0, n).reduce((a, c) => a + c[0], 0) / n, r.slice(0, n).reduce((a, c) => a + c[1], 0) / n];
      const r9 = (x) => Math.round(x * 1e9) / 1e9; // the drawing library's precision
      r[1] = [r9(r[1][0] + (cx - r[1][0]) * 0.1), r9(r[1][1] + (cy - r[1][1]) * 0.1)];
      ed.draw.updateFeatureGeometry(ed.edit.featureId, g);
      ed.lastGeometry = ed.currentGeometry();
      ed.updateUndo();
    });
    const moved = await shape();
    assert.notEqual(moved, original);
    await page.locator('#map').click({ position: { x: 5, y: 5 } }).catch(() => {});
    await page.keyboard.press('Control+z');
    assert.equal(await shape(), original);
    await page.keyboard.press('Control+y');
    assert.equal(await shape(), moved);
    // A gap is a warning, not a green "passed".
    await page.waitForSelector('#verdict .gap');
    assert.equal(await page.getAttribute('#verdict', 'data-ok'), 'true');
    assert.ok(!(await page.getAttribute('#verdict', 'class')).includes('good'), 'a gap is shown as passed');
    // Switching tabs with the edit unsaved asks; declining keeps the edit.
    page.once('dialog', (d) => d.dismiss());
    await page.click('#tabs [data-view=coverage]');
    assert.equal(await page.evaluate(() => window.gridmap.view), 'map');
    assert.equal(await shape(), moved);
    // Esc asks too; accepting leaves the edit.
    page.once('dialog', (d) => d.accept());
    await page.keyboard.press('Escape');
    await page.waitForSelector('#edit-shape');
    assert.equal(await page.evaluate(() => window.gridmap.views.map.edit), null);
    // History times are local, and an older version can be restored with a reason.
    const times = await page.$$eval('#history tr[data-version] td:nth-child(4)', (tds) => tds.map((td) => td.textContent));
    for (const at of times) assert.doesNotMatch(at, /T\d\d:|Z$/, at);
    {
      // The grid has older versions: this file's earlier tests saved some.
      assert.ok(await page.$('#history tr[data-version]:nth-child(3) .restore'), 'no older version to restore');
      const target = await page.getAttribute('#history tr[data-version]:nth-child(3)', 'data-version');
      await page.click('#history tr[data-version]:nth-child(3) .restore');
      await page.fill('#restore-reason', '恢复原边界');
      await page.click('#restore-go');
      await page.waitForSelector('#saved');
      const { body } = await api(server.url, 'admin', `/api/grids/${LEADER_GRID}/history`);
      assert.equal(body.versions[0].why, '恢复原边界');
      const [now, old] = await Promise.all([
        api(server.url, 'admin', `/api/grids/${LEADER_GRID}`),
        api(server.url, 'admin', `/api/grids/${LEADER_GRID}/versions/${target}`),
      ]);
      assert.deepEqual(now.body.geometry.coordinates, old.body.geometry.coordinates);
    }
    await page.context().close();
  });

  for (const [label, viewport] of [['desktop', { width: 1400, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
    test(`a grid worker (${label}) lands on their coverage, picks the outcome and sees the building selected`, async () => {
      const page = await signIn(browser, server.url, 'worker', { viewport });
      assert.equal(await page.evaluate(() => window.gridmap.view), 'coverage');
      if (label === 'phone') {
        const header = await page.locator('.topbar').boundingBox();
        assert.ok(header.height <= 56, `the header is ${header.height} px high`);
        const tabs = await page.$$eval('#tabs button:not([hidden])', (bs) => bs.map((b) => b.getBoundingClientRect()).map((r) => [r.top, r.bottom]));
        assert.ok(tabs.every(([top]) => top === tabs[0][0]), 'the tabs wrap');
        assert.ok(tabs[0][1] <= 844 && tabs[0][0] > 844 - 70, 'the tabs are not at the bottom');
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= 390, `the page is ${wide} px wide`);
      }
      const { body } = await api(server.url, 'admin', '/collections/buildings/items?limit=10000');
      const own = body.features.find((f) => f.properties.grid === LEADER_GRID && f.properties.visit !== 'visited');
      await page.evaluate(async (id) => {
        const { openBuilding } = await import('/js/building.js');
        await openBuilding(window.gridmap, document.querySelector('#panel'), id);
      }, own.properties.id);
      await page.waitForSelector('#visit-form');
      assert.deepEqual(await page.evaluate(() => window.gridmap.map.getFilter('buildings-selected')), ['==', ['get', 'id'], own.properties.id]);
      // No outcome is chosen for the worker: submitting without one records nothing.
      assert.equal(await page.inputValue('#visit-outcome'), '');
      await page.click('#visit-form button[type=submit]');
      assert.equal(await page.$('#visit-recorded'), null);
      await page.selectOption('#visit-outcome', 'visited');
      // The residents' answers (知晓率, 满意率) go with the visit.
      await page.selectOption('#visit-knows', 'yes');
      await page.selectOption('#visit-satisfaction', '5');
      await page.click('#visit-form button[type=submit]');
      await page.waitForSelector('#visit-recorded');
      const times = await page.$$eval('#visits tr td:first-child', (tds) => tds.map((td) => td.textContent));
      for (const at of times) assert.doesNotMatch(at, /T\d\d:|Z$/, at);
      await screenshot(page, `09-worker-visit-${label}`);
      // Back on the coverage page the visited building is no longer listed as uncovered.
      await page.click('#panel .row button.link');
      await page.waitForSelector('#uncovered table, #uncovered p');
      const listed = await page.evaluate(async (id) => {
        const fc = await (await fetch('/api/uncovered', { headers: { Authorization: `Bearer ${sessionStorage.getItem('gridmap.token')}` } })).json();
        return { server: fc.features.some((f) => (f.properties.building_ids ?? []).includes(id)), page: window.gridmap.visitedNow.has(id) };
      }, own.properties.id);
      assert.ok(listed.page, 'the visit was not remembered for the lists');
      assert.deepEqual(await page.evaluate(() => window.gridmap.map.getFilter('buildings-selected')), ['==', ['get', 'id'], '']);
      await screenshot(page, `10-worker-coverage-${label}`);
      assert.deepEqual(page.errors, []);
      await page.context().close();
    });
  }

  test('a grid worker offline records three visits; back online exactly three are stored, with their own times', async () => {
    const page = await signIn(browser, server.url, 'worker', { viewport: { width: 390, height: 844 } });
    // Signed in online, the worker's grid is kept for the field.
    await page.waitForFunction(() => window.gridmap.offlineReady);
    await page.evaluate(() => window.gridmap.offlineReady);
    assert.ok(await page.evaluate(() => window.gridmap.offlineTiles) > 0, 'no tile of the grid was kept');
    await page.waitForFunction(() => navigator.serviceWorker?.controller || navigator.serviceWorker?.ready);
    const { body } = await api(server.url, 'admin', '/collections/buildings/items?limit=10000');
    const own = body.features.filter((f) => f.properties.grid === LEADER_GRID).slice(0, 3).map((f) => f.properties.id);
    assert.equal(own.length, 3);
    const beforeIds = new Set((await api(server.url, 'admin', '/collections/visits/items?limit=10000')).body.features.map((f) => f.id));
    const before = beforeIds.size;
    await page.context().setOffline(true);
    // A call that cannot reach the server says so in the user's language.
    const offlineMessage = await page.evaluate(async () => {
      const { get } = await import('/js/api.js');
      return get('/api/stats').then(() => 'answered', (e) => e.message);
    });
    assert.match(offlineMessage, /无法连接服务器/);
    const times = [];
    for (const id of own) {
      await page.evaluate(async (b) => {
        const { openBuilding } = await import('/js/building.js');
        await openBuilding(window.gridmap, document.querySelector('#panel'), b);
      }, id);
      await page.waitForSelector('#visit-form');
      await page.selectOption('#visit-outcome', 'nobody_home');
      times.push(new Date().toISOString());
      await page.click('#visit-form button[type=submit]');
      await page.waitForSelector('#visit-queued');
      await page.waitForTimeout(1100); // distinct times, a second apart
    }
    assert.equal(await page.getAttribute('#outbox', 'data-waiting'), '3');
    assert.match(await page.textContent('#outbox'), /3/);
    await screenshot(page, '11-worker-offline-phone');
    // Nothing reached the server while offline.
    assert.equal((await api(server.url, 'admin', '/collections/visits/items?limit=10000')).body.features.length, before);
    await page.context().setOffline(false);
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await page.waitForFunction(() => document.querySelector('#outbox').hidden);
    // Sending again (a lost answer, a second tab) records nothing more.
    await page.evaluate(async () => {
      const { flush } = await import('/js/outbox.js');
      await flush(window.gridmap.me.username);
    });
    const after = (await api(server.url, 'admin', '/collections/visits/items?limit=10000')).body.features;
    assert.equal(after.length, before + 3);
    for (const [i, id] of own.entries()) {
      const v = after.filter((f) => !beforeIds.has(f.id) && f.properties.building === id);
      assert.equal(v.length, 1, `building ${id} has ${v.length} offline visits`);
      // Recorded at the time of the tap offline, not at the time it was sent.
      const dt = Math.abs(Date.parse(v[0].properties.time ?? v[0].properties.visited_at) - Date.parse(times[i]));
      assert.ok(dt < 5000, `visit ${i} is ${dt} ms off its offline time`);
    }
    assert.deepEqual(page.errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|net::/.test(e)), []);
    await page.context().close();
  });

  test('a grid worker sees their own grid’s people masked and cannot see another grid’s', async () => {
    const page = await signIn(browser, server.url, 'worker');
    const { body } = await api(server.url, 'admin', '/collections/buildings/items?limit=10000');
    const other = body.features.find((f) => f.properties.grid && f.properties.grid !== LEADER_GRID);
    const own = body.features.find((f) => f.properties.grid === LEADER_GRID && f.properties.households > 0);
    assert.ok(other && own);
    const status = await page.evaluate(async (id) => (await fetch(`/api/buildings/${id}`, {
      headers: { Authorization: `Bearer ${sessionStorage.getItem('gridmap.token')}` },
    })).status, other.properties.id);
    assert.equal(status, 403);
    const drawn = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['buildings'] }).map((f) => f.properties.grid));
    assert.ok(drawn.length > 0 && drawn.every((g) => g === LEADER_GRID));
    // The panel of a building in their grid: people masked, and the visit form.
    await page.evaluate(async (id) => {
      const { openBuilding } = await import('/js/building.js');
      await openBuilding(window.gridmap, document.querySelector('#panel'), id);
    }, own.properties.id);
    await page.waitForSelector('#building-facts');
    // Grid workers collect the register: they see their own grid's people in clear, audited.
    assert.equal(await page.getAttribute('#people-view', 'data-view'), 'clear');
    await page.selectOption('#visit-outcome', 'visited');
    await page.click('#visit-form button[type=submit]');
    await page.waitForSelector('#visit-recorded');
    assert.ok(await page.$$eval('#visits tr', (rows) => rows.length) >= 2);
    await screenshot(page, '05-building-panel-worker');
    await page.context().close();
    // A town supervisor sees the same people masked.
    const sup = await signIn(browser, server.url, 'supervisor');
    await sup.evaluate(async (id) => {
      const { openBuilding } = await import('/js/building.js');
      await openBuilding(window.gridmap, document.querySelector('#panel'), id);
    }, own.properties.id);
    await sup.waitForSelector('#building-facts');
    assert.equal(await sup.getAttribute('#people-view', 'data-view'), 'masked');
    const ids = await sup.$$eval('.people td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
    for (const id of ids) assert.match(id, /\*/, 'an ID number is shown in clear');
    await sup.context().close();
  });

  test('a supervisor toggles each heatmap and sees the problems and uncovered blocks', async () => {
    const page = await signIn(browser, server.url, 'supervisor');
    await page.waitForSelector('#problems-table, #problems p');
    await page.waitForSelector('#uncovered-table, #uncovered p');
    const problems = await api(server.url, 'supervisor', '/api/problems');
    assert.equal(await page.$$eval('#problems-table tr', (r) => r.length - 1), problems.body.problems.length);
    // Every uncovered block says where it is: its village and, for unvisited ones, its grid.
    const blocks = (await api(server.url, 'supervisor', '/api/uncovered')).body.features;
    const wheres = await page.$$eval('#uncovered-table td.where', (tds) => tds.map((td) => td.textContent));
    assert.equal(wheres.length, blocks.length);
    blocks.forEach((b, i) => {
      const p = b.properties;
      if (p.kind === 'unvisited') assert.ok(wheres[i].includes(p.grid_name ?? p.grid), `${wheres[i]} lacks ${p.grid}`);
      if (p.village) assert.ok(wheres[i].includes(p.village_name ?? p.village), `${wheres[i]} lacks ${p.village}`);
    });
    // The problems layer and the table are the same list: every drawn problem is a row.
    await mapIdle(page);
    const drawnProblems = await rendered(page, ['problems', 'problems-points'], 'problem');
    const ids = new Set(problems.body.problems.map((p) => p.id));
    assert.ok(drawnProblems.length > 0, 'no problem drawn');
    for (const id of drawnProblems) assert.ok(ids.has(id), `${id} is drawn but not in the table`);
    // Zoomed out below the buildings' zoom, the map is not empty: the overview cells show
    // where the buildings are and how far their visits have come.
    await page.evaluate(() => window.gridmap.map.zoomTo(12, { duration: 0 }));
    await mapIdle(page);
    const cells = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['overview'] }));
    assert.ok(cells.length > 0, 'no overview cell drawn at z12');
    assert.ok(cells.every((c) => c.properties.buildings > 0 && c.properties.visited_share >= 0));
    // …and each grid is coloured by its visit rate, the rate of /api/stats.
    const stats = (await api(server.url, 'supervisor', '/api/stats?by=grid')).body.rows;
    const coloured = await page.evaluate(() => window.gridmap.map.queryRenderedFeatures({ layers: ['grids-progress'] })
      .map((f) => [f.properties.code, f.state.rate]));
    assert.ok(coloured.length > 0, 'no grid coloured at z12');
    for (const [code, rate] of coloured) {
      assert.equal(rate, stats.find((r) => r.grid === code)?.visit_rate, code);
    }
    await screenshot(page, '06-overview-z12');
    await page.evaluate(() => window.gridmap.map.zoomTo(14, { duration: 0 }));
    await mapIdle(page);
    const pixels = () => page.evaluate(() => window.gridmap.map.getCanvas().toDataURL());
    for (const kind of ['visited', 'unvisited', 'coverage']) {
      const beforeToggle = await pixels();
      await page.check(`#toggle-heat-${kind}`);
      await mapIdle(page);
      assert.equal(await page.evaluate((k) => window.gridmap.map.getLayoutProperty(`heat-${k}`, 'visibility'), kind), 'visible');
      await page.waitForSelector(`#legend .legend-${kind}`);
      // The legend carries its numbers: one per stop of the server's scale.
      const legend = (await api(server.url, 'supervisor', `/heatmap/${kind}/legend.json`)).body;
      const ticks = await page.$$eval(`#legend .legend-${kind} .ticks span`, (ss) => ss.map((x) => x.textContent));
      assert.equal(ticks.length, legend.stops.length);
      for (const tick of ticks) assert.match(tick, /^\d[\d,.]*[%+]?$/, tick);
      assert.notEqual(await pixels(), beforeToggle, `the ${kind} heatmap draws nothing`);
      await screenshot(page, `06-heatmap-${kind}`);
      await page.uncheck(`#toggle-heat-${kind}`);
      await mapIdle(page);
    }
    // A row of the problems table zooms to its problem.
    if (problems.body.problems.length) {
      const zoom = await page.evaluate(() => window.gridmap.map.getZoom());
      await page.click('#problems-table tr.clickable >> nth=0');
      assert.notEqual(await page.evaluate(() => window.gridmap.map.getZoom()), zoom);
    }
    await screenshot(page, '07-coverage');
    // Printing: the map as shown, with the title, scale, north arrow, legend and who printed
    // it, and nothing else on the page (a PDF of it is kept for a look).
    await page.evaluate(() => { window.print = () => { window.printed = true; }; });
    await page.click('#print-map');
    assert.equal(await page.evaluate(() => window.printed), true);
    const sheet = await page.evaluate(() => {
      const s = document.querySelector('#print-sheet');
      return { title: s.querySelector('h1').textContent, image: s.querySelector('img').src.length, text: s.innerText };
    });
    assert.match(sheet.title, /走访覆盖图/);
    assert.ok(sheet.image > 20_000, `the map image is ${sheet.image} bytes`);
    assert.match(sheet.text, /北/);
    assert.match(sheet.text, /\d+ (m|km)/);
    assert.match(sheet.text, /supervisor 打印于/);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.isVisible('#panel'), false);
    assert.equal(await page.isVisible('#print-sheet'), true);
    await page.pdf({ path: join(outDir, '07-coverage-print.pdf'), format: 'A4', landscape: true });
    await page.emulateMedia({ media: 'screen' });
    await page.context().close();
  });

  test('the dashboard shows the same figures as /api/stats, in Chinese and in English', async () => {
    const page = await signIn(browser, server.url, 'supervisor');
    await page.click('#tabs [data-view=dashboard]');
    await page.waitForSelector('#stats-table tr:nth-child(2)');
    const stats = (await api(server.url, 'supervisor', '/api/stats?by=grid')).body;
    const rows = await page.$$eval('#stats-table tr.clickable', (trs) => trs.map((tr) => ({
      code: tr.dataset.code, cells: [...tr.children].map((td) => td.textContent),
    })));
    assert.equal(rows.length, stats.rows.length);
    rows.forEach((r, i) => {
      const s = stats.rows[i];
      assert.equal(r.code, s.grid);
      assert.equal(r.cells[0], String(s.rank));
      assert.equal(Number(r.cells[4].replaceAll(',', '')), s.households);
      assert.equal(Number(r.cells[5].replaceAll(',', '')), s.visited_households);
      assert.equal(r.cells[6], `${(s.visit_rate * 100).toFixed(1)}%`);
    });
    // Each grid is named, as /api/grids names it.
    const grids = (await api(server.url, 'supervisor', '/api/grids')).body.features;
    const named = grids.filter((f) => f.properties.name);
    assert.ok(named.length > 0);
    for (const f of named) {
      const row = rows.find((r) => r.code === f.properties.code);
      if (row) assert.equal(row.cells[2], f.properties.name);
    }
    // Sorting by the visit rate, then reversing it, then back to the ranking.
    const rates = async () => page.$$eval('#stats-table td.visit-rate', (tds) => tds.map((td) => Number.parseFloat(td.textContent)));
    await page.click('#stats-table th[data-key=visit_rate]');
    const down = await rates();
    assert.deepEqual(down, [...down].sort((a, b) => b - a));
    await page.click('#stats-table th[data-key=visit_rate]');
    const up = await rates();
    assert.deepEqual(up, [...up].sort((a, b) => a - b));
    // The chart follows a row, and goes back to the whole scope when switching to villages.
    await page.click('#stats-table tr.clickable >> nth=0');
    await page.waitForFunction(() => document.querySelector('#chart-title').textContent.includes('·'));
    await page.click('#by-village');
    await page.waitForSelector('#stats-table tr.clickable');
    assert.ok(!(await page.textContent('#chart-title')).includes('·'), 'the chart stuck on one grid');
    // Villages are named too.
    const villageRows = (await api(server.url, 'supervisor', '/api/stats?by=village')).body.rows;
    const villageNames = await page.$$eval('#stats-table tr.clickable', (trs) => trs.map((tr) => tr.children[2].textContent));
    assert.ok(villageRows.every((r) => r.name), 'a village without a name');
    for (const r of villageRows) assert.ok(villageNames.includes(r.name), `${r.name} not shown`);
    await page.click('#by-grid');
    await page.waitForSelector('#stats-table tr.clickable');
    // 人房关联率: the scope's own figure, as /api/stats and `gridmap stats` give it.
    const linkage = await page.textContent('#card-linkage');
    assert.equal(linkage, stats.linkage.rate == null ? '–' : `${(stats.linkage.rate * 100).toFixed(1)}%`);
    // The scorecard row: the eight rates as /api/scorecard gives them, the workers' answers in.
    const card = (await api(server.url, 'supervisor', '/api/scorecard')).body.town;
    for (const k of ['visit_rate', 'registration_rate', 'attention_rate', 'consistency_rate',
      'linkage_rate', 'awareness_rate', 'satisfaction_rate', 'plate_rate']) {
      const shown = await page.textContent(`#scorecard [data-key=${k}] b`);
      assert.equal(shown, card[k].rate == null ? '无数据' : `${(card[k].rate * 100).toFixed(1)}%`, k);
      assert.match(await page.getAttribute(`#scorecard [data-key=${k}]`, 'class'), new RegExp(`grade-${card[k].grade ?? 'none'}`));
    }
    assert.ok(card.awareness_rate.denominator >= 1, 'the worker’s answers are not counted');
    assert.equal(card.linkage_rate.rate, stats.linkage.rate);
    const total = stats.rows.reduce((a, r) => a + r.households, 0);
    assert.equal(Number((await page.textContent('#card-households')).replaceAll(',', '')), total);
    await page.waitForSelector('#chart svg, #chart p');
    await screenshot(page, '08-dashboard');
    // Export: the same table as an XLSX workbook (a zip file).
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-xlsx')]);
    assert.equal(download.suggestedFilename(), 'gridmap-stats-grid.xlsx');
    const chunks = [];
    for await (const c of await download.createReadStream()) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes.subarray(0, 2).toString(), 'PK');
    await page.click('#shell [data-lang-toggle]');
    assert.equal(await page.textContent('#tabs [data-view=dashboard]'), 'Progress');
    await page.waitForSelector('#stats-table tr:nth-child(2)');
    await screenshot(page, '09-dashboard-english');
    await page.context().close();
  });

  test('a planner computes a plan and compares it with today’s grids', async () => {
    const page = await signIn(browser, server.url, 'planner');
    await page.click('#tabs [data-view=plans]');
    await page.selectOption('#plan-village', VILLAGE);
    await page.check('#plan-from-current');
    await page.click('#plan-start');
    await page.waitForSelector('#plan-report', { timeout: 120_000 });
    const planRows = await page.$$eval('#plan-grids-table tr', (r) => r.length - 1);
    assert.ok(planRows > 1);
    // The report counts the grids within the tolerance, and every grid outside it is named
    // with the reason.
    const [within, grids] = (await page.textContent('#plan-within')).split('/').map((x) => Number(x.trim().replaceAll(',', '')));
    assert.equal(grids, planRows);
    const notes = await page.$$eval('#plan-notes li', (l) => l.map((x) => x.textContent));
    assert.ok(notes.length >= grids - within, `${notes.length} notes for ${grids - within} grids off target`);
    for (const n of notes) assert.ok(!/[{}]|note_/.test(n), n);
    // Every tentacle left is named with the reason, worded in the app's language.
    const shape = await page.textContent('#plan-shape');
    const tentacles = Number(shape.match(/触手 ([\d,]+)/)[1].replaceAll(',', ''));
    const arms = await page.$$eval('#plan-tentacles li', (l) => l.map((x) => x.textContent));
    assert.equal(arms.length, tentacles);
    for (const a of arms) assert.ok(!/[{}]|tentacle_|undefined/.test(a), a);
    await mapIdle(page);
    const drawn = await page.evaluate(() => new Set(window.gridmap.map.queryRenderedFeatures({ layers: ['plan-line'] }).map((f) => f.properties.code)).size);
    assert.equal(drawn, planRows);
    // The map keys itself: each plan grid's code on a halo of its colour (symbols are placed
    // a few frames after their data arrives).
    await page.waitForFunction(() => window.gridmap.map.queryRenderedFeatures({ layers: ['plan-labels'] })
      .some((f) => /^310101001\d+-\d+$/.test(f.properties.code)), null, { timeout: 10_000 });
    await screenshot(page, '10-plan-overlay');
    await page.click('#plan-side');
    await page.waitForFunction(() => window.gridmap.twin?.loaded());
    await mapIdle(page, 'twin');
    await screenshot(page, '11-plan-side-by-side');
    // The plan goes out as GeoJSON, every grid in it.
    const [file] = await Promise.all([page.waitForEvent('download'), page.click('#plan-export')]);
    assert.match(file.suggestedFilename(), /^plan-310101001\d+-\d{4}-\d\d-\d\d\.geojson$/);
    const chunks = [];
    for await (const c of await file.createReadStream()) chunks.push(c);
    const fc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    assert.equal(fc.type, 'FeatureCollection');
    assert.equal(fc.features.length, planRows);
    // Sized by households a grid, with the tolerance in percent; the phases in Chinese, and
    // the earlier plan taken off the map while the new one is made.
    await page.selectOption('#plan-by', 'target');
    await page.fill('#plan-target', '1500');
    await page.fill('#plan-tolerance', '10');
    const phases = [];
    const watch = setInterval(async () => {
      const s = await page.textContent('#plan-status').catch(() => '');
      if (s) phases.push(s);
    }, 100);
    await page.click('#plan-start');
    assert.equal(await page.evaluate(() => window.gridmap.twin ?? null), null, 'the twin map stayed');
    await page.waitForSelector('#plan-report', { timeout: 120_000 });
    clearInterval(watch);
    for (const s of phases) assert.doesNotMatch(s, /[A-Za-z]{3,}/, s);
    assert.match(await page.textContent('#plan-report'), /10%/);
    await page.context().close();
  });

  test('a supervisor previews the repair of a village on the map, applies it with a reason, and the overlap is gone', async () => {
    const page = await signIn(browser, server.url, 'supervisor');
    await page.waitForSelector('#problems-table');
    const overlapVillage = '310101001001';
    const overlaps = async () => (await api(server.url, 'supervisor', '/api/problems')).body.problems
      .filter((p) => p.type === 'overlap' && p.grids.some((g) => g?.startsWith(overlapVillage))).length;
    assert.ok(await overlaps() > 0, 'the demo has an overlap in this village');
    await page.click(`#repair-offers button[data-village="${overlapVillage}"]`);
    await page.waitForSelector('#repair-changes li');
    const changes = await page.$$eval('#repair-changes li', (l) => l.map((x) => x.textContent));
    assert.ok(changes.some((c) => /重叠/.test(c)), changes.join(' | '));
    for (const c of changes) assert.ok(!/[{}]|undefined/.test(c), c);
    // The grids before and after are drawn, and the buildings that move are listed.
    await mapIdle(page);
    const sides = await page.evaluate(() => [...new Set(window.gridmap.map.querySourceFeatures('diff').map((f) => f.properties.side))].sort());
    assert.deepEqual(sides, ['a', 'b']);
    assert.ok(await page.$$eval('#repair-moved li', (l) => l.length) > 0);
    await screenshot(page, '12-repair-preview');
    // A reason is needed; then it is applied, one new version per repaired grid.
    await page.click('#repair-apply');
    assert.match(await page.textContent('#repair-result'), /原因/);
    await page.fill('#repair-reason', '修复网格重叠');
    await page.click('#repair-apply');
    await page.waitForSelector('#repair-applied');
    assert.equal(await overlaps(), 0);
    const history = (await api(server.url, 'supervisor', `/api/grids/${overlapVillage}-01/history`)).body.versions;
    assert.equal(history[0].why, '修复网格重叠');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('an edit left unsaved when the session ends comes back after signing in again', async () => {
    const page = await signIn(browser, server.url, 'leader');
    await page.click(`#grid-list tr[data-code="${LEADER_GRID}"]`);
    await page.click('#edit-shape');
    await page.waitForSelector('#verdict[data-ok]');
    const moved = await page.evaluate(() => {
      const ed = window.gridmap.views.map;
      const g = ed.currentGeometry();
      ed.edit.undo.push(structuredClone(g));
      const r = g.coordinates[0];
      r[2] = [Math.round((r[2][0] + 0.00001) * 1e9) / 1e9, r[2][1]];
      ed.draw.updateFeatureGeometry(ed.edit.featureId, g);
      ed.lastGeometry = ed.currentGeometry();
      return JSON.stringify(ed.currentGeometry().coordinates);
    });
    await page.fill('#reason', '未保存的修改');
    // The session ends (revoked on the server); the next call finds out.
    await page.evaluate(() => fetch('/api/logout', { method: 'POST', headers: { Authorization: `Bearer ${sessionStorage.getItem('gridmap.token')}` } }));
    await page.evaluate(async () => { const { get } = await import('/js/api.js'); await get('/api/stats').catch(() => {}); });
    await page.waitForSelector('#login:not([hidden])');
    await page.fill('#login [name=username]', 'leader');
    await page.fill('#login [name=password]', 'gridmap-demo-2026');
    await Promise.all([page.waitForNavigation(), page.click('#login button[type=submit]')]);
    await page.waitForSelector('#restored-edit');
    assert.equal(await page.evaluate(() => JSON.stringify(window.gridmap.views.map.currentGeometry().coordinates)), moved);
    assert.equal(await page.inputValue('#reason'), '未保存的修改');
    assert.ok(await page.evaluate(() => window.gridmap.views.map.dirty()));
    await page.context().close();
  });

  test('server errors are worded in the user’s language by their code', async () => {
    const page = await signIn(browser, server.url, 'worker');
    const texts = await page.evaluate(async () => {
      const { get } = await import('/js/api.js');
      const { setLang } = await import('/js/i18n.js');
      const ask = (path) => get(path).then(() => 'answered', (e) => e.message);
      const zh = [await ask('/api/grids/NOPE'), await ask('/api/stats?by=village')];
      setLang('en');
      const en = [await ask('/api/grids/NOPE')];
      setLang('zh');
      return { zh, en };
    });
    assert.deepEqual(texts.zh, ['未找到。', '超出您的管辖范围，无权操作。']);
    assert.deepEqual(texts.en, ['Not found.']);
    await page.context().close();
  });

  test('a town supervisor saves, exports and prints a plan, opens it again and adopts it: the village’s grids become the plan’s, with history', async () => {
    let page = await signIn(browser, server.url, 'supervisor');
    await page.click('#tabs [data-view=plans]');
    await page.selectOption('#plan-village', VILLAGE);
    await page.check('#plan-from-current');
    await page.click('#plan-start');
    await page.waitForSelector('#plan-adopt-go', { timeout: 120_000 });
    const proposed = await page.$$eval('#plan-grids-table tr', (r) => r.length - 1);
    const codes = await page.$$eval('#plan-grids-table tr td:first-child', (c) => c.map((x) => x.textContent.trim()));
    // Named and saved in the project.
    await page.fill('#plan-name', '');
    await page.click('#plan-save-go');
    assert.match(await page.textContent('#plan-save-result'), /名称/);
    await page.fill('#plan-name', '调整方案甲');
    await page.click('#plan-save-go');
    await page.waitForSelector('#plan-saved-as');
    assert.match(await page.textContent('#plan-saved-as'), /调整方案甲/);
    await page.waitForSelector('#plan-saved-table');
    // Exported as a GeoPackage.
    const [gpkg] = await Promise.all([page.waitForEvent('download'), page.click('#plan-export-gpkg')]);
    assert.match(gpkg.suggestedFilename(), /^plan-310101001\d+\.gpkg$/);
    const chunks = [];
    for await (const c of await gpkg.createReadStream()) chunks.push(c);
    assert.equal(Buffer.concat(chunks).subarray(0, 15).toString('latin1'), 'SQLite format 3');
    // Printed: the sheet's key lists every plan grid with its colour.
    await page.evaluate(() => { window.print = () => { window.printed = true; }; });
    await page.click('#plan-print');
    assert.equal(await page.evaluate(() => window.printed), true);
    const sheet = await page.textContent('#print-sheet');
    assert.match(sheet, /网格划分方案/);
    assert.match(sheet, /调整方案甲/);
    for (const code of codes) assert.ok(sheet.includes(code), code);
    await page.emulateMedia({ media: 'print' });
    await page.pdf({ path: join(outDir, '14-plan-print.pdf'), format: 'A4', landscape: true });
    await page.emulateMedia({ media: 'screen' });
    await page.context().close();

    // Another day, on a phone: the saved plan is opened from the list and adopted.
    page = await signIn(browser, server.url, 'supervisor', { viewport: { width: 390, height: 844 } });
    await page.click('#tabs [data-view=plans]');
    await page.waitForSelector('#plan-saved-table');
    const row = page.locator('#plan-saved-table tr', { hasText: '调整方案甲' });
    await row.locator('.plan-open').click();
    await page.waitForSelector('#plan-adopt-go');
    assert.equal(await page.$$eval('#plan-grids-table tr', (r) => r.length - 1), proposed);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'wider than the phone');
    await page.click('#plan-adopt-go');
    assert.match(await page.textContent('#adopt-result'), /原因/);
    await page.fill('#adopt-reason', '按方案调整网格');
    page.once('dialog', (d) => d.accept());
    await page.click('#plan-adopt-go');
    await page.waitForSelector('#plan-adopted');
    const grids = (await api(server.url, 'supervisor', '/api/grids')).body.features.filter((f) => f.properties.village === VILLAGE);
    assert.equal(grids.length, proposed);
    const history = (await api(server.url, 'supervisor', `/api/grids/${grids[0].properties.code}/history`)).body.versions;
    assert.equal(history[0].why, '按方案调整网格');
    const saved = (await api(server.url, 'supervisor', '/api/plans')).body.plans.find((p) => p.name === '调整方案甲');
    assert.equal(saved.adopted, true);
    assert.deepEqual(page.errors, []);
    await screenshot(page, '13-plan-adopted');
    await page.context().close();
  });
});
