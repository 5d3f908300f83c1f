// IndexedDB: the last content seen (readable offline) and the outbox of unsent writes.

const DB_NAME = 'classhub';
const DB_VERSION = 1;
const KEEP_EVENTS = 500; // per channel, enough to read a session's chat offline

let dbPromise = null;

function open() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains('http')) db.createObjectStore('http');
        if (!db.objectStoreNames.contains('channels')) db.createObjectStore('channels');
        if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { keyPath: 'client_id' });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

async function tx(store, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const s = t.objectStore(store);
    let result;
    const req = fn(s);
    if (req) req.onsuccess = () => { result = req.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export const cachePut = (key, value) => tx('http', 'readwrite', (s) => s.put(value, key));
export const cacheGet = (key) => tx('http', 'readonly', (s) => s.get(key));

export async function channelGet(name) {
  return (await tx('channels', 'readonly', (s) => s.get(name))) || { lastSeq: 0, events: [] };
}

export async function channelPut(name, state) {
  const events = state.events.slice(-KEEP_EVENTS);
  return tx('channels', 'readwrite', (s) => s.put({ lastSeq: state.lastSeq, events }, name));
}

export const channelDrop = (name) => tx('channels', 'readwrite', (s) => s.delete(name));

export const outboxAdd = (item) => tx('outbox', 'readwrite', (s) => s.put(item));
export const outboxRemove = (clientId) => tx('outbox', 'readwrite', (s) => s.delete(clientId));
export const outboxAll = () => tx('outbox', 'readonly', (s) => s.getAll());

export async function wipe() {
  // On sign-out nothing of the previous person stays readable on this device.
  const db = await open();
  await Promise.all(['http', 'channels', 'outbox'].map((name) => new Promise((resolve, reject) => {
    const t = db.transaction(name, 'readwrite');
    t.objectStore(name).clear();
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
  })));
}

export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
