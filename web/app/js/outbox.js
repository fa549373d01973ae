// The outbox of visits: every visit is written to IndexedDB first, with the time and position
// of the moment it was recorded and an id of its own (`client_id`), then sent. A visit that
// cannot be sent (no network) waits and goes when the network is back; the server records each
// `client_id` once, so a visit sent twice (an answer lost on the way) is still one visit.

import { ApiError, call } from './api.js';

const DB = 'gridmap';
const STORE = 'outbox';
const listeners = new Set();
let flushing = null;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'client_id' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, f) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const out = f(t.objectStore(STORE));
      t.oncomplete = () => resolve(out instanceof IDBRequest ? out.result : out);
      t.onerror = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

/** The visits waiting for `user`, oldest first. */
export async function waiting(user) {
  const all = await tx('readonly', (s) => s.getAll());
  return all.filter((v) => v.user === user && !v.rejected).sort((a, b) => a.time.localeCompare(b.time));
}

/** Visits the server refused (bad data, no right): kept to be seen, never sent again. */
export async function rejected(user) {
  const all = await tx('readonly', (s) => s.getAll());
  return all.filter((v) => v.user === user && v.rejected);
}

/** Calls `f()` whenever the outbox changes. */
export function onChange(f) { listeners.add(f); }

function changed() { for (const f of listeners) f(); }

/** Queues a visit of `user` (the body of POST /api/visits) and tries to send it at once.
 * Answers 'sent' or 'queued'. */
export async function record(user, visit) {
  const item = { ...visit, client_id: crypto.randomUUID(), time: visit.time ?? new Date().toISOString(), user };
  await tx('readwrite', (s) => s.put(item));
  changed();
  await flush(user);
  const still = await tx('readonly', (s) => s.get(item.client_id));
  if (still?.rejected) throw new ApiError(still.status, still.error);
  return still ? 'queued' : 'sent';
}

/** Sends `user`'s waiting visits in order; stops at the first that cannot reach the server. */
export function flush(user) {
  flushing ??= (async () => {
    try {
      for (const v of await waiting(user)) {
        const { user: _, ...body } = v;
        try {
          await call('POST', '/api/visits', { json: body });
          await tx('readwrite', (s) => s.delete(v.client_id));
        } catch (e) {
          if (!(e instanceof ApiError) || e.status >= 500 || e.status === 401 || e.status === 429) break;
          // The server refused this visit for what it is: keep it aside, with why.
          await tx('readwrite', (s) => s.put({ ...v, rejected: true, status: e.status, error: e.message }));
        }
        changed();
      }
    } finally {
      flushing = null;
    }
  })();
  return flushing;
}
