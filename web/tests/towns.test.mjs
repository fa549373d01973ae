// The towns of a division in a real browser: a PostgreSQL database holding two demo towns
// under one district, the server of one of them, and the district's supervisor (a user added
// at the division) reading the district's ranking on the dashboard, this town marked, while
// the rest of the dashboard does not wait for it; a town's own users (403) see no trace of
// it, and a 403 or 501 answer leaves it out without an error. Needs the database of the
// PostgreSQL tests: GRIDMAP_TEST_PG (scripts/test.sh starts a throw-away cluster and sets it);
// unset, the test is skipped with a message, except under CI (`CI` set), where that fails, as
// the Rust PostgreSQL tests do. The towns and divisions it makes are removed again.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD, api, gridmapRun, launch, repo, screenshot, serve, signIn } from './support.mjs';

const PG = process.env.GRIDMAP_TEST_PG;
if (!PG) {
  assert.ok(!process.env.CI, 'GRIDMAP_TEST_PG is not set, and CI is: the towns test must run (scripts/test.sh starts a cluster)');
  console.log('skipped: the towns of a division (web/tests/towns.test.mjs), as GRIDMAP_TEST_PG is not set '
    + '(scripts/pg-test-cluster.sh start DIR prints a URL for it)');
}

// Codes no other test uses. The town served has the higher code: ranking first is earned by its
// visit, not given by the order of codes that breaks ties.
const CITY = '9905';
const DISTRICT = '990501';
const SERVED = '990501002';
const OTHER = '990501001';
const NAMES = { [SERVED]: '演示二镇', [OTHER]: '演示一镇' };

/** Runs SQL on the test database with Debian's psql. */
function psql(sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', PG, '-c', sql], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Removes the towns this test makes (every row of them, by cascade); `quiet` before the first
 * `gridmap init` of the database, when there may be no table to delete from. */
function removeTowns(quiet = false) {
  try {
    psql(`DELETE FROM town WHERE town IN ('${SERVED}', '${OTHER}')`);
  } catch (e) {
    if (!quiet) throw e;
  }
}

/** Removes the divisions this test makes, and their users with them (by cascade). */
function removeDivisions() {
  psql(`DELETE FROM division WHERE code LIKE '${CITY}%'`);
}

/** A town of the demo's grids and buildings, as tests/cli_pg.rs makes them. */
function demoTown(code) {
  gridmapRun(['init', PG, '--town', NAMES[code], '--code', code]);
  gridmapRun(['import', PG, '--town', code, '--layer', 'grids', join(repo, 'data/demo/grids.geojson'), '--who', 'demo', '--why', 'demo data']);
  gridmapRun(['import', PG, '--town', code, '--layer', 'buildings', join(repo, 'data/demo/buildings.geojson')]);
}

/** `gridmap user add` with the demo password; `where` is `--town CODE --scope CODE` or `--division CODE`. */
function userAdd(username, role, where) {
  gridmapRun(['user', 'add', PG, ...where, '--username', username, '--role', role, '--password-stdin'], `${DEMO_PASSWORD}\n`);
}

/** The statuses of the answers to /api/towns the page gets from now on (kept up to date). */
function watchTowns(page) {
  const statuses = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname === '/api/towns') statuses.push(r.status()); });
  return statuses;
}

/** The rows of the towns table: code, cells' text, whether marked as this town. */
async function townRows(page) {
  return page.$$eval('#towns-table tr[data-code]', (trs) => trs.map((tr) => ({
    code: tr.dataset.code, own: tr.classList.contains('own-town'), cells: [...tr.children].map((td) => td.textContent),
  })));
}

const count = (text) => Number(text.replaceAll(',', ''));

describe('the towns of a division', { skip: PG ? false : 'GRIDMAP_TEST_PG is not set' }, () => {
  let server;
  let browser;
  before(async () => {
    removeTowns(true); // left by an earlier run
    demoTown(OTHER);
    demoTown(SERVED);
    removeDivisions(); // left by an earlier run (the table exists once a town is made)
    gridmapRun(['division', 'add', PG, '--code', CITY, '--name', '测试市']);
    gridmapRun(['division', 'add', PG, '--code', DISTRICT, '--name', '测试区']);
    userAdd('district', 'town_supervisor', ['--division', DISTRICT]);
    userAdd('admin', 'admin', ['--town', SERVED, '--scope', SERVED]);
    userAdd('supervisor', 'town_supervisor', ['--town', SERVED, '--scope', SERVED]);
    server = await serve([PG, '--town', SERVED]);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    removeTowns();
    removeDivisions();
  });

  test('a district’s supervisor sees its towns ranked on the dashboard, this town marked', async () => {
    // A visit in the served town, of a building with households, by its admin: before anyone
    // asks for the ranking (a shared answer, kept for 30 s).
    const buildings = (await api(server.url, 'admin', '/collections/buildings/items?limit=10000')).body.features;
    const building = buildings.find((f) => f.properties.households > 0).properties;
    const visit = await api(server.url, 'admin', '/api/visits', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ building: building.id, outcome: 'visited' }),
    });
    assert.equal(visit.status, 200, JSON.stringify(visit.body));

    const page = await signIn(browser, server.url, 'district');
    // The ranking can take seconds on a big district: the rest of the dashboard does not wait
    // for it, and a loading line stands in for it meanwhile.
    let release;
    const held = new Promise((ok) => { release = ok; });
    await page.route('**/api/towns', async (route) => { await held; await route.continue(); });
    await page.click('#tabs [data-view=dashboard]');
    await page.waitForSelector('#stats-table tr:nth-child(2)');
    assert.equal(await page.textContent('#towns-loading'), '正在加载各镇排名…');
    assert.equal(await page.$('#towns-table'), null);
    release();
    await page.waitForSelector('#towns-table tr[data-code]');
    assert.equal(await page.$('#towns-loading'), null);

    assert.equal(await page.textContent('#towns h3'), '各镇排名 · 辖区 990501');
    const answer = (await api(server.url, 'district', '/api/towns')).body;
    assert.equal(answer.division, DISTRICT);
    const rows = await townRows(page);
    assert.deepEqual(rows.map((r) => r.code), [SERVED, OTHER]);
    // The served town first, with its one visited building; the other after it, none visited.
    const [served, other] = rows;
    assert.deepEqual(served.cells.slice(0, 3), ['1', SERVED, `${NAMES[SERVED]}本镇`]);
    assert.deepEqual(other.cells.slice(0, 3), ['2', OTHER, NAMES[OTHER]]);
    assert.equal(count(served.cells[5]), 1);
    assert.equal(count(other.cells[5]), 0);
    assert.equal(count(served.cells[7]), building.households);
    assert.equal(count(served.cells[3]), 31);
    assert.equal(count(served.cells[4]), 1321);
    assert.ok(served.own && !other.own, 'the served town is not the one marked');
    // Every figure as /api/towns gives it.
    rows.forEach((r, i) => {
      const a = answer.towns[i];
      assert.equal(r.code, a.code);
      assert.deepEqual(
        [r.cells[0], ...r.cells.slice(3, 8).map(count), r.cells[8]],
        [String(a.rank), a.grids, a.buildings, a.visited_buildings, a.households, a.visited_households,
          `${(a.visit_rate * 100).toFixed(1)}%`],
      );
    });
    assert.ok(answer.towns[0].visit_rate > 0);
    await screenshot(page, '21-division-towns');
    // Sorting by code, then reversing it; the mark stays with the town.
    await page.click('#towns-table th[data-key=code]');
    assert.deepEqual((await townRows(page)).map((r) => r.code), [SERVED, OTHER]);
    await page.click('#towns-table th[data-key=code]');
    const up = await townRows(page);
    assert.deepEqual(up.map((r) => [r.code, r.own]), [[OTHER, false], [SERVED, true]]);
    // The grids' table below is the served town's, as before.
    const stats = (await api(server.url, 'district', '/api/stats?by=grid')).body;
    assert.equal(await page.$$eval('#stats-table tr.clickable', (trs) => trs.length), stats.rows.length);
    // In English too.
    await page.click('#shell [data-lang-toggle]');
    await page.waitForSelector('#towns-table tr[data-code]');
    assert.equal(await page.textContent('#towns h3'), 'Towns of the division · 990501');
    assert.equal(await page.textContent('#towns-table th[data-key=visited_buildings]'), 'Visited buildings');
    await screenshot(page, '22-division-towns-english');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('on a phone the towns fit the screen (the table scrolls in its box)', async () => {
    const page = await signIn(browser, server.url, 'district', { viewport: { width: 390, height: 844 } });
    await page.click('#tabs [data-view=dashboard]');
    await page.waitForSelector('#towns-table tr[data-code]');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 390);
    await screenshot(page, '23-division-towns-phone');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  for (const user of ['admin', 'supervisor']) {
    test(`the town’s own ${user} (403 from /api/towns) sees no towns section, and is not asked`, async () => {
      assert.equal((await api(server.url, user, '/api/towns')).status, 403);
      const page = await signIn(browser, server.url, user);
      const asked = watchTowns(page);
      await page.click('#tabs [data-view=dashboard]');
      await page.waitForSelector('#stats-table tr:nth-child(2)');
      await page.waitForFunction(() => document.querySelector('#towns')?.hidden);
      assert.equal(await page.textContent('#towns'), '');
      assert.deepEqual(asked, []);
      assert.deepEqual(page.errors, []);
      await page.context().close();
    });
  }

  for (const status of [403, 501]) {
    test(`a ${status} answer leaves the section out, with no error, and is not asked again`, async () => {
      const page = await signIn(browser, server.url, 'district');
      await page.route('**/api/towns', (route) => route.fulfill({
        status, contentType: 'application/json', body: JSON.stringify({ error: 'refused', code: status === 403 ? 'forbidden' : 'not_implemented' }),
      }));
      const asked = watchTowns(page);
      await page.click('#tabs [data-view=dashboard]');
      await page.waitForSelector('#stats-table tr:nth-child(2)');
      await page.waitForFunction(() => document.querySelector('#towns')?.hidden);
      assert.equal(await page.textContent('#towns'), '');
      assert.equal(await page.$('#dashboard .error'), null);
      // Back on the dashboard later: not asked again.
      await page.click('#tabs [data-view=coverage]');
      await page.click('#tabs [data-view=dashboard]');
      await page.waitForSelector('#stats-table tr:nth-child(2)');
      assert.deepEqual(asked, [status]);
      assert.equal(await page.textContent('#towns'), '');
      // The browser's own line about the refused request is the only one.
      assert.deepEqual(page.errors.filter((e) => !e.includes(`status of ${status}`)), []);
      await page.context().close();
    });
  }
});
