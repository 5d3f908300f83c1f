// The service worker: keeps the app shell available offline.
// API answers are never cached here (the client keeps what it last saw in
// IndexedDB, per person, and wipes it on sign-out).
// The server fills in the file list and a version hash of their contents
// (web/spa.py), so a deploy with any changed file installs a fresh cache.
const VERSION = 'classhub-shell-__VERSION__';
const SHELL = ['/', '/manifest.webmanifest'].concat(__FILES__);

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(VERSION);
    // One missing file must not keep the worker from installing.
    await Promise.all(SHELL.map((url) => cache.add(new Request(url, { cache: 'reload' })).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== VERSION) await caches.delete(key);
    await self.clients.claim();
  })());
});

async function networkFirst(request, fallbackUrl) {
  const cache = await caches.open(VERSION);
  try {
    const response = await fetch(request);
    if (response.ok && request.method === 'GET') cache.put(fallbackUrl || request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(fallbackUrl || request, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname === '/ws' || url.pathname === '/metrics') return;
  if (request.mode === 'navigate') {
    // Every client route is the same shell.
    event.respondWith(networkFirst(request, '/'));
    return;
  }
  if (url.pathname.startsWith('/static/') || url.pathname === '/manifest.webmanifest') {
    event.respondWith(networkFirst(request));
  }
});
