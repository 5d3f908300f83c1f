// The trainers' room controls (issue 17) around a chat: the pinned announcement and the
// room's state for everyone (slow mode, frozen, my mute), and for the event's trainers a
// menu on each message (remove with a reason, restore, mute its author for 5/15/60 min),
// the room settings (slow mode, freeze, word list, announcement), the mutes and the queue
// of posts held by the word list. API: /api/events/<id>/room (docs/webclient.md).
import { h, replace, fmtClock, ask, toast } from './dom.js';
import * as api from './api.js';
import { session } from './session.js';

const SLOW_CHOICES = [[0, 'off'], [10, '10 s'], [30, '30 s'], [60, '1 min'], [120, '2 min'], [300, '5 min']];
const MUTE_MINUTES = [5, 15, 60];

// "Mute 5/15/60 min" for one member (the People tab, for the event's trainers).
export function muteButtons(eventId, member) {
  return MUTE_MINUTES.map((minutes) => h('button', {
    type: 'button', class: 'mute-member', 'aria-label': `Mute ${member.display_name} for ${minutes} min`,
    onclick: () => api.post(`/api/events/${eventId}/room/mutes`, { user_id: member.user_id, minutes })
      .then(() => toast(`${member.display_name} is muted for ${minutes} min`))
      .catch((err) => toast(err.message, 'error')),
  }, `${minutes} min`));
}

export async function createRoomControls(eventId) {
  const base = `/api/events/${eventId}/room`;
  let room = { slow_secs: 0, frozen: false, announcement: '', muted_until: null, staff: false };
  try {
    room = await api.get(base);
  } catch {
    // Offline or no access: the chat works without the controls.
  }
  const banner = h('div', { class: 'announcement', role: 'status', hidden: true });
  const status = h('p', { class: 'room-status', role: 'status', 'aria-live': 'polite' });
  const panel = h('div', { class: 'room-controls' });
  const el = h('div', {}, banner, status, panel);
  let mutedTimer = null;

  function drawState() {
    banner.hidden = !room.announcement;
    replace(banner, h('strong', {}, 'Pinned: '), room.announcement || '');
    const parts = [];
    if (room.frozen) parts.push(room.staff ? 'The chat is frozen: only trainers may post.' : 'The chat is frozen: only trainers may post now.');
    if (room.slow_secs) parts.push(`Slow mode: one message per ${room.slow_secs} s per person${room.staff ? ' (trainers exempt)' : ''}.`);
    const until = room.muted_until ? new Date(room.muted_until) : null;
    if (until && until > new Date()) {
      parts.push(`A trainer muted you until ${fmtClock(until)}: your messages are not sent.`);
      clearTimeout(mutedTimer);
      mutedTimer = setTimeout(() => { room.muted_until = null; drawState(); }, Math.min(until - new Date() + 500, 2 ** 31 - 1));
    }
    status.textContent = parts.join(' ');
    status.hidden = !parts.length;
    status.classList.toggle('muted-me', Boolean(until && until > new Date()));
  }

  // --- for trainers --------------------------------------------------------------------

  const heldList = h('ul', { class: 'held-queue', 'aria-label': 'Held for review' });
  const mutesList = h('ul', { class: 'mutes', 'aria-label': 'Muted' });

  async function act(promise, done) {
    try {
      await promise;
      if (done) toast(done);
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function refreshStaff() {
    try {
      room = await api.get(base);
      const { held } = await api.get(`${base}/held`);
      replace(heldList, held.length ? held.map((x) => h('li', { dataset: { heldId: x.id } },
        h('span', { class: 'who' }, x.author_name || `#${x.author_id}`),
        h('span', { class: 'text' }, (x.body && x.body.text) || ''),
        h('span', { class: 'muted' }, ` (matched “${x.word}”) `),
        h('button', { type: 'button', onclick: () => decide(x.id, true) }, 'Approve'),
        h('button', { type: 'button', onclick: () => decide(x.id, false) }, 'Reject'))) : h('li', { class: 'muted' }, 'Nothing held.'));
      replace(mutesList, (room.mutes || []).length ? room.mutes.map((m) => h('li', {},
        `#${m.user_id} ${names.get(m.user_id) || ''} until ${fmtClock(m.until)} `,
        h('button', { type: 'button', onclick: () => act(api.del(`${base}/mutes/${m.user_id}`), 'Unmuted').then(refreshStaff) }, 'Unmute'))) : h('li', { class: 'muted' }, 'Nobody is muted.'));
    } catch (err) {
      toast(err.message, 'error');
    }
    drawState();
  }

  async function decide(id, approve) {
    await act(api.post(`${base}/held/${id}`, { approve }), approve ? 'Approved' : 'Rejected');
    refreshStaff();
  }

  async function mute(userId, minutes) {
    await act(api.post(`${base}/mutes`, { user_id: userId, minutes }), `Muted for ${minutes} min`);
    refreshStaff();
  }

  async function remove(eventId2) {
    const values = await ask('Remove this message', [{ name: 'reason', label: 'Reason (the author and the room see it)', required: true }], 'Remove');
    if (!values) return;
    await act(api.post(`${base}/messages/${eventId2}/remove`, { reason: values.reason }), 'Removed');
  }

  // The menu on one message (chat.js calls it for each message shown).
  const names = new Map();
  function decorate(li, event) {
    if (!room.staff || !event.author) return;
    if (event.author.name) names.set(event.author.id, event.author.name);
    const isMe = session.me && event.author.id === session.me.id;
    const items = [
      h('button', { type: 'button', class: 'remove-msg', onclick: () => (li.classList.contains('removed')
        ? act(api.post(`${base}/messages/${event.id}/restore`), 'Restored')
        : remove(event.id)) }, 'Remove / restore…'),
    ];
    if (!isMe) {
      for (const minutes of MUTE_MINUTES) {
        items.push(h('button', { type: 'button', class: 'mute-author', dataset: { minutes }, onclick: () => mute(event.author.id, minutes) }, `Mute ${minutes} min`));
      }
    }
    const menu = h('details', { class: 'msg-menu' }, h('summary', { 'aria-label': 'Message actions' }, '⋯'), h('div', { class: 'menu' }, items));
    menu.addEventListener('click', (ev) => { if (ev.target.closest('button')) menu.open = false; });
    li.append(menu);
  }

  function settingsForm() {
    const slow = h('select', { name: 'slow_secs' }, SLOW_CHOICES.map(([v, label]) => h('option', { value: String(v), selected: v === room.slow_secs }, label)));
    const frozen = h('input', { type: 'checkbox', name: 'frozen', checked: room.frozen });
    const words = h('textarea', { name: 'words', rows: 2, placeholder: 'one word or phrase per line' });
    words.value = (room.words || []).join('\n');
    const announcement = h('textarea', { name: 'announcement', rows: 2, maxlength: 2000 });
    announcement.value = room.announcement || '';
    const form = h('form', { class: 'room-settings' },
      h('label', {}, 'Slow mode ', slow),
      h('label', {}, frozen, ' Freeze the chat (only trainers post)'),
      h('label', {}, 'Hold posts with these words for review', words),
      h('label', {}, 'Pinned announcement', announcement),
      h('button', { type: 'submit', class: 'primary' }, 'Save room settings'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {
        slow_secs: Number(slow.value), frozen: frozen.checked, announcement: announcement.value,
        words: words.value.split('\n').map((w) => w.trim()).filter(Boolean),
      };
      await act(api.patch(base, body).then((r) => { room = r; drawState(); }), 'Room settings saved');
    });
    return form;
  }

  function drawPanel() {
    if (!room.staff) { replace(panel); return; }
    replace(panel, h('details', { class: 'card' },
      h('summary', {}, 'Room controls'),
      settingsForm(),
      h('h3', {}, 'Held for review'), heldList,
      h('h3', {}, 'Muted'), mutesList));
  }

  // room.updated in the chat's channel (chat.js onEvent) and my personal notices.
  function onEvent(event) {
    if (event.type !== 'room.updated') return;
    Object.assign(room, event.body.room || {});
    drawState();
  }
  const onPersonal = (ev) => {
    const e = ev.detail;
    const body = e.body || {};
    if (e.type === 'chat.muted' && body.event_id === eventId) room.muted_until = body.until;
    else if (e.type === 'chat.unmuted' && body.event_id === eventId) room.muted_until = null;
    else if (e.type === 'room.held' && body.event_id === eventId) { refreshStaff(); return; }
    else return;
    drawState();
  };
  document.addEventListener('classhub:personal', onPersonal);

  drawState();
  drawPanel();
  if (room.staff) refreshStaff();
  return {
    el,
    decorate,
    onEvent,
    dispose() {
      clearTimeout(mutedTimer);
      document.removeEventListener('classhub:personal', onPersonal);
    },
  };
}
