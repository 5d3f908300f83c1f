// The HTTP API: JSON in and out, the CSRF header on unsafe requests, one error shape.
import { cachePut, cacheGet } from './store.js';

let csrfToken = null;

export function setCsrf(token) { csrfToken = token; }

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const listeners = { unauthenticated: null };

function url(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

export async function request(method, path, { body, query, form, raw } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let payload;
  if (form) {
    payload = form;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), { method, headers, body: payload, credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError(0, 'offline', 'the server cannot be reached');
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { text }; }
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(response.status, err.code || 'error', err.message || response.statusText, err.details);
    if (response.status === 401 && listeners.unauthenticated && path !== '/api/login') listeners.unauthenticated(e);
    throw e;
  }
  return data;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, body) => request('POST', path, { body: body === undefined ? {} : body });
export const put = (path, body) => request('PUT', path, { body });
export const patch = (path, body) => request('PATCH', path, { body });
export const del = (path, body) => request('DELETE', path, body === undefined ? {} : { body });

// GET that falls back to the last answer stored in IndexedDB when offline.
export async function cachedGet(path, query) {
  const key = url(path, query);
  try {
    const data = await get(path, query);
    cachePut(key, data).catch(() => {});
    return { data, stale: false };
  } catch (err) {
    if (err.status === 0) {
      const data = await cacheGet(key);
      if (data !== undefined) return { data, stale: true };
    }
    throw err;
  }
}

let openapi = null;
// The server's own description of its operations: screens ask whether a feature has landed.
export async function operations() {
  if (!openapi) {
    try {
      const doc = await get('/api/openapi.json');
      openapi = doc.paths || {};
    } catch {
      openapi = {};
    }
  }
  return openapi;
}

export async function hasOp(method, path) {
  const ops = await operations();
  return Boolean(ops[path] && ops[path][method.toLowerCase()]);
}
