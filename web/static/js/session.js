// The signed-in person (`/api/me`) and their live connection: start, resume, sign out, and
// a session that ended while in use. The top bar's links and the connection badge follow it.
import { h, replace, toast } from './dom.js';
import * as api from './api.js';
import { Realtime } from './realtime.js';
import { wipe, cachePut, cacheGet } from './store.js';
import { flushHttpOutbox } from './outbox.js';
import { watchNews, stopNews } from './news.js';
import { navigate } from './nav.js';

export const session = { me: null, rt: null };

function renderNav() {
  const nav = document.getElementById('nav');
  if (!session.me) { replace(nav); return; }
  const links = [h('a', { href: '/events' }, 'My events'), h('a', { href: '/me' }, 'Me')];
  if (session.me.is_admin) links.push(h('a', { href: '/manage' }, 'Manage'));
  if (session.me.is_admin || session.me.is_dpo) links.push(h('a', { href: '/admin' }, 'Admin'));
  links.push(h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
  replace(nav, links);
}

export async function signOut() {
  try { await api.post('/api/logout'); } catch { /* offline: still forget locally */ }
  stopNews();
  if (session.rt) session.rt.stop();
  session.rt = null;
  session.me = null;
  connStatus(null);
  const banner = document.getElementById('banner');
  banner.hidden = true;
  await wipe().catch(() => {});
  renderNav();
  // The sign-in form may be up already (the ended session's close code got there first):
  // drawing it again would empty what the person started typing.
  if (location.pathname !== '/signin') navigate('/signin', { replace: true });
}

// The session ended while in use (signed out elsewhere, expired, blocked): drop its
// connection and subscriptions, so signing in again in this tab starts fresh ones
// (a kept, closed connection left the page offline after the new sign-in).
export function sessionLost() {
  session.me = null;
  if (session.rt) { session.rt.stop(); session.rt = null; }
  stopNews();
  connStatus(null);
  renderNav();
  navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, { replace: true });
}

function connStatus(status) {
  const el = document.getElementById('conn');
  // No connection to speak of (signed out, or an account that only reactivates): no badge.
  el.hidden = !status;
  if (!status) {
    el.textContent = '';
    delete el.dataset.status;
    delete document.body.dataset.conn;
    return;
  }
  const text = { online: 'live', connecting: 'connecting…', offline: 'offline' }[status] || status;
  el.textContent = text;
  el.dataset.status = status;
  document.body.dataset.conn = status;
  if (status === 'online') flushHttpOutbox().catch(() => {});
}

// Whose content this device keeps (IndexedDB): a session can end without signing out
// (idle, expired, blocked), and the next person to sign in here must neither read the
// previous one's cached content nor send their unsent writes in their own name.
const OWNER_KEY = 'owner';

async function claimDevice(me) {
  const owner = await cacheGet(OWNER_KEY).catch(() => undefined);
  const previous = owner ?? (await cacheGet('/api/me').catch(() => undefined))?.id;
  if (previous !== undefined && previous !== me.id) await wipe().catch(() => {});
  await cachePut(OWNER_KEY, me.id).catch(() => {});
}

export async function startSession(me) {
  await claimDevice(me);
  session.me = me;
  api.setCsrf(me.csrf_token);
  // Offline, a reload signs in from this copy (the cookie is still the session).
  cachePut('/api/me', me).catch(() => {});
  renderNav();
  // An account in its termination grace month only reactivates, exports or deletes.
  if (me.status === 'terminating') { connStatus(null); return; }
  if (!session.rt) {
    session.rt = new Realtime({
      onStatus: connStatus,
      onNotice: (frame) => {
        if (frame.type === 'ws_refused') {
          toast('Live updates are refused by the server. Open classhub at the address its operator configured (PUBLIC_URL / ALLOWED_ORIGINS).', 'error');
        }
        document.dispatchEvent(new CustomEvent('classhub:notice', { detail: frame }));
      },
      onAuthLost: sessionLost,
    });
    session.rt.start();
    watchNews(session).catch((err) => console.error(err));
  }
}

// The session this browser already has (cookie), or offline its last copy: true when
// someone is signed in now.
export async function resumeSession() {
  try {
    const { data, stale } = await api.cachedGet('/api/me');
    if (stale) connStatus('offline');
    await startSession(data);
    return true;
  } catch (err) {
    return false;
  }
}
