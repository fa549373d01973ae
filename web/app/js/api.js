// The HTTP API: the bearer token lives in sessionStorage (gone when the tab closes); every
// call sends it; a 401 sends the user back to the sign-in form.

import { t } from './i18n.js';

const TOKEN = 'gridmap.token';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
    this.code = body?.code ?? null;
  }
}

/** The server could not be reached (no network, server down): not an answer from it. */
export class NetworkError extends Error {}

/** An error answer worded in the user's language by its stable `code`; where the server's
 * words say what to change (a bad value, a clash), they follow the worded kind. */
function errorText(status, body, text) {
  const server = (body && (body.error || body.message)) || text || String(status);
  const code = body?.code;
  if (!code) return server;
  const kind = t(`err_${code}`);
  if (kind === `err_${code}`) return server; // a code this app does not know yet
  return ['bad_request', 'conflict', 'invalid_request'].includes(code) ? `${kind}（${server}）` : kind;
}

export function token() { return sessionStorage.getItem(TOKEN); }

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN, value);
  else sessionStorage.removeItem(TOKEN);
}

let onUnauthorized = () => {};
export function whenUnauthorized(f) { onUnauthorized = f; }

/** Adds the token to a request for this server's tiles (MapLibre's transformRequest). */
export function authorize(url) {
  if (url.startsWith(location.origin) && token()) {
    return { url, headers: { Authorization: `Bearer ${token()}` } };
  }
  return { url };
}

/** `fetch` with the token; JSON in and out. Returns `{body, headers, status}`. */
export async function call(method, path, { json, headers = {}, raw = false } = {}) {
  const h = { ...headers };
  if (token()) h.Authorization = `Bearer ${token()}`;
  if (json !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: json === undefined ? undefined : JSON.stringify(json) });
  } catch {
    throw new NetworkError(t('err_network'));
  }
  if (res.status === 401 && path !== '/api/login') {
    setToken(null);
    onUnauthorized();
  }
  if (raw && res.ok) return { body: await res.blob(), headers: res.headers, status: res.status };
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!res.ok) {
    throw new ApiError(res.status, errorText(res.status, body, text || res.statusText), body);
  }
  return { body, headers: res.headers, status: res.status };
}

export const get = async (path) => (await call('GET', path)).body;
export const post = async (path, json) => (await call('POST', path, { json })).body;

/** Downloads `path` (with the token) as a file named `filename`. */
export async function download(path, filename) {
  const { body } = await call('GET', path, { raw: true });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(body);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
