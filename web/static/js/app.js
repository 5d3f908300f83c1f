// Boot and the client-side router: the entry point the shell loads. Nothing imports this
// module: screens take the session from session.js and navigate with nav.js.
import { h, replace, toast } from './dom.js';
import * as api from './api.js';
import { navigate, startNavigation } from './nav.js';
import { session, sessionLost, resumeSession } from './session.js';

const ROUTES = [
  [/^\/signin$/, () => import('./screens/signin.js'), { public: true }],
  [/^\/invite\/(?<token>[^/]+)$/, () => import('./screens/invite.js'), { public: true }],
  [/^\/(?:forgot-password|reset-password\/(?<token>[^/]+))$/, () => import('./screens/password_reset.js'), { public: true }],
  [/^\/(?:events)?$/, () => import('./screens/events.js')],
  [/^\/events\/(?<id>\d+)(?:\/(?<tab>[a-z]+))?$/, () => import('./screens/room.js')],
  [/^\/events\/(?<id>\d+)\/organiser\/(?<sub>[a-z]+)$/, () => import('./screens/organiser.js')],
  [/^\/dm\/(?<user>\d+)$/, () => import('./screens/dm.js')],
  [/^\/trainer\/(?<id>\d+)$/, () => import('./screens/moderation.js')],
  [/^\/present\/(?<id>\d+)$/, () => import('./screens/present.js')],
  [/^\/present\/qa\/(?<id>\d+)$/, () => import('./screens/present_qa.js')],
  [/^\/admin(?:\/(?<tab>[a-z]+))?$/, () => import('./screens/admin.js')],
  [/^\/me$/, () => import('./screens/me.js')],
  [/^\/manage(?:\/(?<new>new))?$/, () => import('./screens/manage.js')],
  [/^\/manage\/(?<id>\d+)$/, () => import('./screens/manage_event.js')],
];

let cleanup = null;
let routeSeq = 0;

async function route() {
  const seq = ++routeSeq;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const main = document.getElementById('main');
  for (const [re, load, opts = {}] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    if (!opts.public && !session.me && !(await resumeSession())) {
      if (seq === routeSeq) navigate(`/signin?next=${encodeURIComponent(path)}`, { replace: true });
      return;
    }
    // A terminating account (grace month) may only see and reactivate itself.
    if (session.me && session.me.status === 'terminating' && path !== '/me') {
      navigate('/me', { replace: true });
      return;
    }
    const mod = await load();
    if (seq !== routeSeq) return;
    if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
    replace(main);
    try {
      cleanup = (await mod.render(main, m.groups || {}, new URLSearchParams(location.search))) || null;
    } catch (err) {
      console.error(err);
      replace(main, h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, err.message || String(err)),
        h('p', {}, h('a', { href: '/events' }, 'Go to my events')));
    }
    // Move focus to the new screen (for screen readers), unless it focused a field itself.
    if (!main.contains(document.activeElement) || document.activeElement === main) main.focus({ preventScroll: true });
    return;
  }
  replace(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/events' }, 'Go to my events')));
}

startNavigation(route);

api.listeners.unauthenticated = () => {
  // Only a session that ended while in use; the router handles signing in at start.
  if (!session.me) return;
  if (/^\/(signin|invite|forgot-password|reset-password)\b/.test(location.pathname)) return;
  sessionLost();
};

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
}

window.classhub = session; // for debugging and for the browser tests
route();
toast.ready = true;
