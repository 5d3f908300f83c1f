// Organiser news (event changed / cancelled) shown as a banner on every screen,
// and the personal channel's notices. Each banner shown is reported with a
// `seen` frame: organisers see who got the change live.
import { h, replace, toast, fmtTime } from './dom.js';
import { get, post } from './api.js';

let watched = new Map(); // channel -> unsubscribe
let queue = [];
const reported = new Set();
let rt = null;
let me = null;

const ackKey = () => `classhub.banners.${me.id}`;
function acknowledged() {
  try { return new Set(JSON.parse(localStorage.getItem(ackKey()) || '[]')); } catch { return new Set(); }
}
function acknowledge(id) {
  const set = acknowledged();
  set.add(id);
  localStorage.setItem(ackKey(), JSON.stringify([...set].slice(-500)));
}

export function isNewsChange(event) {
  return event.type === 'event_changed' || event.type === 'event_cancelled';
}

const LABELS = { starts_at: 'starts', ends_at: 'ends', location: 'place', description: 'description' };

export function describeNews(event) {
  const b = event.body || {};
  const cancelled = event.type === 'event_cancelled' || b.status === 'cancelled';
  const title = b.title || b.event_title || '';
  const head = cancelled ? 'Cancelled' : 'Changed';
  const parts = [];
  // changes: {field: [before, after]}
  for (const [name, value] of Object.entries(b.changes || {})) {
    if (name === 'status') continue;
    const after = Array.isArray(value) ? value[1] : value;
    const shown = /_at$/.test(name) ? fmtTime(after) : String(after ?? '');
    parts.push(name === 'description' ? 'new description' : `${LABELS[name] || name}: ${shown}`);
  }
  if (b.note) parts.push(b.note);
  return { cancelled, head: title ? `${head}: ${title}` : `Event ${head.toLowerCase()}`, text: parts.join(' · ') };
}

function showNext() {
  const banner = document.getElementById('banner');
  const seenSet = acknowledged();
  queue = queue.filter((e) => !seenSet.has(e.id));
  if (!queue.length) { banner.hidden = true; replace(banner); return; }
  const event = queue[queue.length - 1];
  const d = describeNews(event);
  banner.className = d.cancelled ? 'cancelled' : 'changed';
  const eventId = Number(event.channel.split(':')[1]);
  replace(banner,
    h('strong', {}, d.head),
    h('span', { class: 'grow' }, d.text),
    h('a', { href: `/events/${eventId}` }, 'Open event'),
    h('button', { type: 'button', onclick: () => { for (const e of queue) acknowledge(e.id); showNext(); } }, 'Dismiss'));
  banner.hidden = false;
  // Acknowledge display: the hub's seen frame, and the HTTP form (idempotent) for
  // when the socket is not up at this moment.
  rt.seen(event.channel, event.id);
  const changeId = event.body && event.body.change_id;
  if (changeId && !reported.has(changeId)) {
    reported.add(changeId);
    post(`/api/events/${eventId}/changes/${changeId}/seen`).catch(() => reported.delete(changeId));
  }
}

function onNews(msg) {
  if (msg.kind !== 'event' || !isNewsChange(msg.event)) return;
  queue.push(msg.event);
  document.dispatchEvent(new CustomEvent('classhub:news', { detail: msg.event }));
  showNext();
}

export async function watchNews(session) {
  rt = session.rt;
  me = session.me;
  let events = [];
  try {
    events = (await get('/api/events')).events || [];
  } catch {
    return;
  }
  const wanted = new Set(events.map((e) => `event:${e.id}:news`));
  for (const [name, unsub] of watched) if (!wanted.has(name)) { unsub(); watched.delete(name); }
  for (const name of wanted) {
    if (watched.has(name)) continue;
    const sub = await rt.subscribe(name, onNews);
    for (const e of sub.events) if (isNewsChange(e)) queue.push(e);
    watched.set(name, sub.unsubscribe);
  }
  showNext();
  const personal = `user:${me.id}`;
  if (!watched.has(personal)) {
    const sub = await rt.subscribe(personal, (msg) => {
      if (msg.kind !== 'event') return;
      document.dispatchEvent(new CustomEvent('classhub:personal', { detail: msg.event }));
      if (msg.event.type === 'dm.received') { dmReceived(msg.event.body || {}); return; }
      const text = personalNotice(msg.event);
      if (text) toast(text);
    }, { history: false });
    watched.set(personal, sub.unsubscribe);
  }
}

const NOTICES = {
  'note.taken_offline': (b) => `A trainer took your note offline: ${b.reason || ''}`,
  'note.reinstated': () => 'Your note is back on the board.',
  'note.approved': () => 'Your note was approved and is on the board.',
  'note.queued': () => 'Your note waits for a trainer\'s approval.',
  'note.deleted_by_moderator': (b) => `A trainer deleted your note${b.reason ? `: ${b.reason}` : '.'}`,
  'note.revised': () => 'The author revised a note you took offline.',
  'chat.removed': (b) => `A trainer removed your message: ${b.reason || ''}`,
  'chat.muted': (b) => `A trainer muted you until ${fmtTime(b.until)}.`,
  'chat.unmuted': () => 'You may post again.',
  'chat.rejected': () => 'A trainer did not approve your held message.',
  'room.held': () => 'A message waits for your review.',
  'media.due': (b) => `“${b.title || 'A photo or video'}” shows someone who took back consent: blur, replace or withdraw it (Media tab).`,
  'media.withdrawn': (b) => `“${b.title || 'A photo or video'}” was withdrawn: ${b.reason || ''}`,
};

// The toast for a personal notice; mail progress and the like update their screens silently.
export function personalNotice(event) {
  const make = NOTICES[event.type];
  return make ? make(event.body || {}) : null;
}

// Direct messages that arrived while their conversation was not open: a link in the
// top bar to each sender's conversation (the newest first) until it is opened.
let unreadDms = new Map(); // sender id -> messages

function dmReceived(body) {
  const from = Number(body.from);
  if (!from || location.pathname === `/dm/${from}`) return;
  const n = (unreadDms.get(from) || 0) + 1;
  unreadDms.delete(from); // re-inserted last: the newest sender
  unreadDms.set(from, n);
  toast('New direct message');
  renderDmAlert();
}

export function dmOpened(other) {
  if (unreadDms.delete(Number(other))) renderDmAlert();
}

function renderDmAlert() {
  let el = document.getElementById('dm-alert');
  if (!unreadDms.size) { if (el) el.remove(); return; }
  if (!el) {
    el = h('a', { id: 'dm-alert', class: 'dm-alert' });
    document.querySelector('.topbar').append(el);
  }
  const senders = [...unreadDms.keys()];
  const newest = senders[senders.length - 1];
  const count = [...unreadDms.values()].reduce((a, b) => a + b, 0);
  el.href = `/dm/${newest}`;
  el.textContent = count === 1 ? '1 new direct message' : `${count} new direct messages`;
  el.title = senders.length > 1 ? `from ${senders.length} people; opens the newest` : 'open the conversation';
}

export function stopNews() {
  for (const unsub of watched.values()) unsub();
  watched = new Map();
  queue = [];
  unreadDms = new Map();
  renderDmAlert();
}
