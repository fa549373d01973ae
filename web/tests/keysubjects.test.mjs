// Key units, places and persons in a real browser: a grid leader adds one to a building of
// their grid and sets its attention level; the grid worker of the same grid finds no trace of
// it in the building panel; the supervisor's scorecard counts it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { api, launch, screenshot, signIn, startServer } from './support.mjs';

const GRID = '310101001002-03'; // the demo leader's and worker's grid

async function openBuilding(page, id) {
  await page.evaluate(async (b) => {
    const { openBuilding: open } = await import('/js/building.js');
    await open(window.gridmap, document.querySelector('#panel'), b);
  }, id);
  await page.waitForSelector('#building-facts');
}

describe('key subjects', () => {
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

  test('a grid leader marks a key person with an attention level; the worker sees nothing of it', async () => {
    const { body } = await api(server.url, 'admin', '/collections/buildings/items?limit=10000');
    const building = body.features.find((f) => f.properties.grid === GRID).properties.id;
    const before = (await api(server.url, 'admin', '/api/scorecard')).body.town.attention_rate;

    const leader = await signIn(browser, server.url, 'leader');
    await openBuilding(leader, building);
    await leader.waitForSelector('#key-subject-form');
    await leader.selectOption('#key-kind', 'person');
    await leader.selectOption('#key-category', '社区服刑人员');
    await leader.fill('#key-name', '测试重点乙');
    await leader.click('#key-subject-form button[type=submit]');
    await leader.waitForSelector('#key-subject-list select[data-subject]');
    const id = await leader.getAttribute('#key-subject-list select[data-subject]', 'data-subject');
    await leader.selectOption(`#key-subject-list select[data-subject="${id}"]`, '1');
    await leader.waitForFunction((s) => document.querySelector(`#key-subject-list select[data-subject="${s}"]`)?.value === '1', id);
    await screenshot(leader, '20-key-subject');
    assert.deepEqual(leader.errors, []);
    await leader.context().close();

    const listed = (await api(server.url, 'leader', '/api/key-subjects')).body.subjects;
    assert.ok(listed.some((s) => s.id === id && s.attention === 1 && s.name === '测试重点乙'));

    const worker = await signIn(browser, server.url, 'worker');
    await openBuilding(worker, building);
    assert.equal(await worker.$('#key-subjects'), null);
    assert.ok(!(await worker.content()).includes('测试重点乙'));
    assert.equal((await api(server.url, 'worker', '/api/key-subjects')).status, 403);
    await worker.context().close();

    // Counted in the attention rate (numbers only), rated. The scorecard is a shared answer
    // made again in the background when a few seconds old: ask until the new one is there.
    let after = before;
    for (let i = 0; i < 60 && after.denominator === before.denominator; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      after = (await api(server.url, 'supervisor', '/api/scorecard')).body.town.attention_rate;
    }
    assert.equal(after.denominator, before.denominator + 1);
    assert.equal(after.numerator, before.numerator + 1);
  });
});
