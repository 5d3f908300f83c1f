// Writes made over HTTP while offline (notes): kept in the IndexedDB outbox with
// their client id and replayed on reconnect. The server dedups by client id, so
// a replay after a lost answer stores the note once.
import { outboxAdd, outboxAll, outboxRemove, newClientId } from './store.js';
import { request } from './api.js';

const listeners = new Set();
export const onOutboxChange = (fn) => { listeners.add(fn); return () => listeners.delete(fn); };
const changed = () => { for (const l of listeners) l(); };

let flushing = null;
// Requests on their way: not shown as "waiting to be sent" unless they fail.
const inflight = new Set();

// A write the server could not take just now (5xx, 429) while the connection stays
// up: no reconnect will come to replay it, so try again on a timer.
const RETRY_MS = 3000;
let retryTimer = null;
function retryLater(err) {
  if (err.status === 0 || retryTimer) return; // offline: the reconnect replays it
  retryTimer = setTimeout(() => { retryTimer = null; flushHttpOutbox().catch(() => {}); }, RETRY_MS);
}

export async function queueHttp(method, path, body, meta = {}) {
  const client_id = body.client_id || newClientId();
  const item = { client_id, kind: 'http', method, path, body: { ...body, client_id }, meta, created: new Date().toISOString() };
  await outboxAdd(item);
  inflight.add(client_id);
  try {
    const result = await request(method, path, { body: item.body });
    await outboxRemove(client_id);
    return { queued: false, result, client_id };
  } catch (err) {
    if (err.status === 0 || err.status >= 500 || err.status === 429) {
      changed();
      retryLater(err);
      return { queued: true, client_id, offline: err.status === 0 };
    }
    await outboxRemove(client_id);
    throw err;
  } finally {
    inflight.delete(client_id);
  }
}

export async function pendingHttp(filter = () => true) {
  const items = await outboxAll().catch(() => []);
  return items.filter((i) => i.kind === 'http' && !inflight.has(i.client_id) && filter(i));
}

export function flushHttpOutbox() {
  if (flushing) return flushing;
  flushing = (async () => {
    const items = (await outboxAll().catch(() => [])).filter((i) => i.kind === 'http' && !inflight.has(i.client_id));
    items.sort((a, b) => (a.created < b.created ? -1 : 1));
    for (const item of items) {
      try {
        await request(item.method, item.path, { body: item.body });
        await outboxRemove(item.client_id);
      } catch (err) {
        if (err.status === 0 || err.status >= 500 || err.status === 429) { retryLater(err); break; } // not now
        // The session ended: kept for when its person signs in again (another person's
        // sign-in on this device discards them, session.js).
        if (err.status === 401) break;
        await outboxRemove(item.client_id); // refused for good: do not retry forever
      }
    }
    changed();
  })().finally(() => { flushing = null; });
  return flushing;
}
