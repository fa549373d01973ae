// The QR door plate path in a real browser: plates printed for a grid (`gridmap plates`), a
// resident opens the page a plate points at on a phone, declares a household, the grid worker
// signs in, confirms it in the review panel, and the register (the building's people) changes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, launch, repo, screenshot, signIn, startServer } from './support.mjs';

const GRID = '310101001002-03'; // the demo worker's grid
const gridmap = resolve(repo, process.env.GRIDMAP ?? 'target/debug/gridmap');

/** A fictional ID number with a valid GB 11643 check digit. */
function fakeId(n) {
  const body = `32060219850${(n % 9) + 1}1${n % 10}${String(100 + n).slice(-3)}`;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((a, c, i) => a + Number(c) * w[i], 0);
  return body + '10X98765432'[sum % 11];
}

/** People registered in building `id`, as the worker sees them. */
async function peopleOf(url, id) {
  const { status, body } = await api(url, 'worker', `/api/buildings/${encodeURIComponent(id)}`);
  assert.equal(status, 200);
  return body.houses.reduce((n, h) => n + h.people.length, 0);
}

describe('QR door plates and self-report', () => {
  let server;
  let browser;
  let plates;
  before(async () => {
    server = await startServer();
    browser = await launch();
    const dir = mkdtempSync(join(tmpdir(), 'gridmap-plates-'));
    execFileSync(gridmap, ['plates', server.project, '--grid', GRID, '--out', join(dir, 'plates.pdf'),
      '--json', join(dir, 'plates.json'), '--base-url', server.url], { stdio: ['ignore', 'ignore', 'inherit'] });
    plates = JSON.parse(readFileSync(join(dir, 'plates.json'), 'utf8'));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a resident declares a household through a plate; the worker confirms it and the register changes', async () => {
    const plate = plates.find((p) => p.house === null);
    assert.ok(plate, 'a building plate');
    assert.ok(plate.url.startsWith(`${server.url}/r/`));
    const before = await peopleOf(server.url, plate.building);

    // The resident, on a phone, signed in nowhere.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
    const phone = await context.newPage();
    const errors = [];
    phone.on('pageerror', (e) => errors.push(String(e)));
    phone.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await phone.goto(plate.url);
    assert.equal((await phone.textContent('#address')).trim(), plate.address);
    const text = await phone.textContent('body');
    assert.ok(!text.includes(plate.building) && !text.includes(GRID), 'nothing of the register');
    await phone.fill('#room', '908');
    await phone.selectOption('#nature', '租住');
    await phone.selectOption('#residence', '流入');
    await phone.click('#add');
    const people = phone.locator('#people fieldset');
    assert.equal(await people.count(), 2);
    const fill = async (i, name, id, phoneNo, relation) => {
      const fs = people.nth(i);
      await fs.locator('[name=name]').fill(name);
      await fs.locator('[name=id_number]').fill(id);
      if (phoneNo) await fs.locator('[name=phone]').fill(phoneNo);
      await fs.locator('[name=relation]').fill(relation);
    };
    await fill(0, '扫码甲', fakeId(1), '13900001111', '户主');
    await fill(1, '扫码乙', fakeId(2), '', '配偶');
    await screenshot(phone, 'selfreport-form');
    await phone.click('button[type=submit]');
    await phone.waitForFunction(() => /已提交/.test(document.querySelector('#result').textContent));
    await screenshot(phone, 'selfreport-sent');
    assert.deepEqual(errors, []);
    await context.close();
    assert.equal(await peopleOf(server.url, plate.building), before, 'nothing registered before review');

    // The grid worker reviews it.
    const page = await signIn(browser, server.url, 'worker');
    await page.click('#tabs [data-view=reviews]');
    const card = page.locator(`.declaration[data-building="${plate.building}"]`);
    await card.waitFor();
    assert.match(await card.textContent(), /908室/);
    assert.match(await card.textContent(), /扫码甲/, 'the worker sees people in clear');
    await screenshot(page, 'selfreport-review');
    await card.locator('button.confirm').click();
    await page.waitForFunction(() => /已登记 2 人/.test(document.querySelector('.declaration')?.textContent ?? ''));
    assert.equal(await peopleOf(server.url, plate.building), before + 2);
    await page.waitForSelector('#no-declarations');
    // 打印门牌: the grid's plates as a PDF download.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#plates-print')]);
    assert.equal(download.suggestedFilename(), `plates-${GRID}.pdf`);
    const pdf = readFileSync(await download.path());
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('a made-up token shows nothing and its declaration is refused like a flood', async () => {
    const res = await fetch(`${server.url}/r/abcdefghijkmnpqr`);
    assert.equal(res.status, 404);
    assert.doesNotMatch(await res.text(), /<form/);
    const post = await fetch(`${server.url}/r/${plates[0].building}`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ people: [{ name: '某某', id_number: fakeId(3) }] }),
    });
    assert.equal(post.status, 429);
    assert.equal((await post.json()).code, 'too_many_requests');
  });
});
