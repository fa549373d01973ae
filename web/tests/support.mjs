// Support for the browser tests: the demo project built once per run, the real `gridmap serve`
// on a free port, Debian's Chromium driven by playwright-core (never a downloaded browser),
// sign-in, waiting for the map, screenshots under web/test-output/.

import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const outDir = join(repo, 'web/test-output');
const gridmap = resolve(repo, process.env.GRIDMAP ?? 'target/debug/gridmap');
// The demo's synthetic household form is encrypted with the demo-only key.
const DEMO_KEY = '64656d6f2d6f6e6c792d6b65792d6e657665722d666f722d7265616c2d646174';
const env = { ...process.env, GRIDMAP_KEY: DEMO_KEY, GRIDMAP: gridmap, RUST_LOG: 'warn' };

let built = null;
/** The demo project, built once per test run into a temporary folder. */
function demoProject() {
  if (built) return built;
  if (!existsSync(gridmap)) throw new Error(`${gridmap} is missing: build it with cargo build -p gridmap-cli`);
  const dir = mkdtempSync(join(tmpdir(), 'gridmap-web-'));
  built = join(dir, 'demo.gpkg');
  execFileSync(join(repo, 'scripts/demo-project.sh'), [built], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return built;
}

/**
 * Serves a fresh copy of the demo project on a free port with the web app embedded in the
 * binary (as deployed); `stop()` sends SIGTERM.
 */
export async function startServer() {
  const source = demoProject();
  const project = join(mkdtempSync(join(tmpdir(), 'gridmap-serve-')), 'demo.gpkg');
  copyFileSync(source, project);
  const server = await serve([project, '--campaign-start', '2026-11-01', '--campaign-end', '2026-12-31']);
  return { ...server, project };
}

/**
 * `gridmap serve PROJECT [ARGS…] --bind 127.0.0.1:0` (`args` starts with the project: a file
 * or a `postgres://` URL) with the web app embedded in the binary; `{url, stop}`, `stop()`
 * sending SIGTERM.
 */
export async function serve(args) {
  if (!existsSync(gridmap)) throw new Error(`${gridmap} is missing: build it with cargo build -p gridmap-cli`);
  const child = spawn(gridmap, ['serve', ...args, '--bind', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`gridmap serve did not start:\n${log}`)), 60_000);
    child.stdout.on('data', (d) => {
      const m = String(d).match(/serving on (http:\/\/[^/\s]+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.on('exit', (code) => fail(new Error(`gridmap serve exited with ${code}:\n${log}`)));
  });
  return {
    url,
    stop: () => new Promise((ok) => { child.once('exit', ok); child.kill('SIGTERM'); }),
  };
}

/** Runs `gridmap ARGS…` (the demo key in its environment), `input` on its standard input;
 * what it printed. Throws, with its standard error, when it fails. */
export function gridmapRun(args, input = '') {
  return execFileSync(gridmap, args, { env, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Headless Debian Chromium with WebGL2 on SwiftShader (see shared/notes/browser-tests.md). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
}

/** The demo users' password (scripts/demo-project.sh). */
export const DEMO_PASSWORD = 'gridmap-demo-2026';

/** A new page signed in as a demo user (password DEMO_PASSWORD), the map idle. */
export async function signIn(browser, url, user, { lang = 'zh', viewport = { width: 1280, height: 800 }, onPage } = {}) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN' });
  const page = await context.newPage();
  // E.g. to listen to the page's requests from its first one.
  onPage?.(page);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await page.addInitScript((l) => localStorage.setItem('gridmap.lang', l), lang);
  await page.goto(`${url}/`);
  await page.fill('#login [name=username]', user);
  await page.fill('#login [name=password]', DEMO_PASSWORD);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#shell:not([hidden])');
  await page.waitForFunction(() => window.gridmap?.views?.map && window.gridmap.map?.loaded());
  await mapIdle(page);
  return page;
}

/** Waits until the map has loaded every tile and drawn them. */
export async function mapIdle(page, which = 'map') {
  await page.evaluate((w) => new Promise((ok) => {
    const map = window.gridmap[w];
    const done = () => ok();
    if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) {
      // One more frame so a just-changed style is drawn too.
      map.once('idle', done);
      map.triggerRepaint();
    } else map.once('idle', done);
  }), which);
}

/** Distinct ids of the rendered features of `layers`. */
export async function rendered(page, layers, key = 'id') {
  return page.evaluate(([ls, k]) => {
    const fs = window.gridmap.map.queryRenderedFeatures({ layers: ls });
    return [...new Set(fs.map((f) => f.properties[k] ?? f.id))].sort();
  }, [layers, key]);
}

export async function screenshot(page, name) {
  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: join(outDir, `${name}.png`) });
}

/** Calls the API with a user's token, from the test (not the page). */
export async function api(url, user, path, init = {}) {
  const login = await fetch(`${url}/api/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: DEMO_PASSWORD }),
  });
  const { token } = await login.json();
  const res = await fetch(`${url}${path}`, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() };
}
