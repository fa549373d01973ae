// Every text the app shows exists in Chinese and in English: the two dictionaries have the
// same keys, every literal key the code asks for is there, and so is every value the server
// sends that the app translates (roles, visit outcomes, problem types, …).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { dictionaries } from '../app/js/i18n.js';
import { startServer } from './support.mjs';

const { zh, en } = dictionaries;
const dir = new URL('../app/js/', import.meta.url).pathname;
const code = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n')
  + readFileSync(new URL('../app/index.html', import.meta.url), 'utf8');

test('Chinese and English have the same keys', () => {
  assert.deepEqual(Object.keys(en).sort(), Object.keys(zh).sort());
});

test('every literal key the app uses is translated', () => {
  const used = new Set([...code.matchAll(/\bt\('([a-z_]+)'/g), ...code.matchAll(/data-t="([a-z_]+)"/g)].map((m) => m[1]));
  assert.ok(used.size > 50);
  for (const k of used) assert.ok(k in zh, `${k} is not translated`);
});

test('every value the server sends that the app translates has a text', async () => {
  // The values come from the server itself (its OpenAPI document's enums, made from the types
  // that define them), not from a copy here.
  const server = await startServer();
  try {
    const doc = await (await fetch(`${server.url}/api/openapi.json`)).json();
    const schemas = doc.components.schemas;
    const values = {
      role: schemas.Role.enum,
      visit: schemas.VisitStatus.enum,
      type: schemas.ProblemType.enum,
      kind: schemas.UncoveredKind.enum,
      action: schemas.HistoryAction.enum,
      heat: schemas.HeatmapKind.enum,
      refused: schemas.Refusal.enum,
    };
    for (const [prefix, vs] of Object.entries(values)) {
      assert.ok(vs.length >= 3, `${prefix}: ${vs}`);
      for (const v of vs) assert.ok(`${prefix}_${v}` in zh, `${prefix}_${v} is not translated`);
    }
  } finally {
    await server.stop();
  }
});

test('every kind of partition note is worded, with its figures', async () => {
  const { noteText } = await import('../app/js/i18n.js');
  const base = { grid: 'G001', reason: 'english', by: 20, room: 60, lightest: 78, target: 402 };
  const notes = [
    { ...base, kind: 'heavy_building', building: 'osm-1', buildings: 1, workload: 800 },
    { ...base, kind: 'heavy_building', building: 'osm-1', buildings: 3, workload: 800 },
    { ...base, kind: 'separate_parts', parts: 3, grids_in_part: 2, workload: 950, target: 475 },
    ...['overshoots', 'neighbours_full', 'kept_for_shape', 'would_split', 'no_trade'].flatMap((kind) =>
      [true, false].map((too_heavy) => ({ ...base, kind, too_heavy, workload: 18, neighbours: ['G002', 'G003'] }))),
  ];
  for (const n of notes) {
    const text = noteText(n, 5);
    assert.ok(!/[{}]|note_|english/.test(text), `${n.kind}: ${text}`);
  }
  assert.match(noteText(notes[0], 5), /osm-1.*800/);
  assert.match(noteText({ ...base, kind: 'overshoots', too_heavy: true }, 5), /超出 20：.*78.*±5%.*60/);
  assert.match(noteText({ ...base, kind: 'neighbours_full', too_heavy: false, neighbours: ['G002', 'G003'] }, 5), /不足 20：.*G002、G003/);
  assert.equal(noteText({ ...base, kind: 'something_new' }, 5), 'english');
});

test('every kind of tentacle note is worded, with its figures', async () => {
  const { tentacleText } = await import('../app/js/i18n.js');
  const base = {
    grid: 'G009', reason: 'english', buildings: 3, households: 72, workload: 72, neighbours: ['G005', 'G002'],
    refused_unbalanced: 5, refused_split: 1, refused_thinner: 2, refused_no_fewer: 10,
  };
  for (const kind of ['unbalanced', 'thinner', 'no_fewer', 'split', 'heavy_building', 'from_current', 'untried']) {
    for (const n of [{ ...base, kind }, { ...base, kind, buildings: 0, households: 0, neighbours: [] }]) {
      const text = tentacleText(n, 5);
      assert.ok(!/[{}]|tentacle_|english|undefined/.test(text), `${kind}: ${text}`);
    }
  }
  assert.match(tentacleText({ ...base, kind: 'no_fewer' }, 5), /3 栋建筑（72 户）.*G005、G002.*18 次.*10 次/);
  assert.match(tentacleText({ ...base, kind: 'unbalanced' }, 5), /5 次会使网格超出 ±5%/);
  assert.match(tentacleText({ ...base, kind: 'untried', buildings: 0 }, 5), /^无建筑的狭长空地/);
  assert.equal(tentacleText({ ...base, kind: 'something_new' }, 5), 'english');
});
