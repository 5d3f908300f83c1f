// Trainer: the moderation queue and notes taken offline, with reasons; board settings and export.
import { h, replace, ask, toast, fmtTime, showInfo } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { loadEvent, eventHeader, roomTabs } from './room.js';

export async function render(main, params) {
  const id = Number(params.id);
  const { event, stale } = await loadEvent(id);
  main.append(eventHeader(event, stale), roomTabs(event, 'moderation'));
  const box = h('section', { 'aria-label': 'Moderation' });
  main.append(box);
  let snap;
  let sub = null;

  async function refresh() {
    try {
      snap = await api.get(`/api/pinboard/events/${id}/board`);
    } catch (err) {
      replace(box, h('p', { class: 'error' }, err.message));
      return;
    }
    if (!snap.viewer.moderator) {
      replace(box, h('p', { class: 'error' }, 'Only the trainers of this event moderate its board.'));
      return;
    }
    let queue = [];
    if (snap.board.premoderation) {
      try { queue = (await api.get(`/api/pinboard/boards/${snap.board.id}/queue`)).notes; } catch { queue = []; }
    }
    draw(queue);
  }

  async function act(fn, message) {
    try { await fn(); toast(message); } catch (err) { toast(err.message, 'error'); }
    await refresh();
  }

  function actions(n) {
    const b = [];
    const label = (what) => `${what}: note ${n.id}`;
    if (n.state === 'published' || n.state === 'pending') {
      b.push(h('button', { type: 'button', class: 'danger', 'aria-label': label('Take offline'), onclick: async () => {
        const v = await ask('Take the note offline', [{ name: 'reason', label: 'Reason (sent to the author)', type: 'textarea', required: true, maxlength: 2000 }], 'Take offline');
        if (v && v.reason.trim()) act(() => api.post(`/api/pinboard/notes/${n.id}/offline`, { reason: v.reason.trim() }), 'Taken offline; the author was told');
      } }, 'Take offline'));
    }
    if (n.state === 'pending') b.push(h('button', { type: 'button', 'aria-label': label('Approve'), onclick: () => act(() => api.post(`/api/pinboard/notes/${n.id}/approve`), 'Approved') }, 'Approve'));
    if (n.state === 'offline') b.push(h('button', { type: 'button', 'aria-label': label('Reinstate'), onclick: () => act(() => api.post(`/api/pinboard/notes/${n.id}/reinstate`), 'Reinstated') }, 'Reinstate'));
    if (n.author && n.author.id !== session.me.id) {
      // The conversation a take-offline opened with its reason (docs/pinboard.md).
      b.push(h('a', { href: `/dm/${n.author.id}?name=${encodeURIComponent(n.author.name)}`, 'aria-label': label('Contact the author') }, 'Contact author'));
    }
    if (n.state !== 'deleted') {
      b.push(h('button', { type: 'button', class: 'danger', 'aria-label': label('Delete'), onclick: async () => {
        const v = await ask('Delete the note', [{ name: 'reason', label: 'Reason (sent to the author)', type: 'textarea', required: true, maxlength: 2000 }], 'Delete');
        if (v && v.reason.trim()) act(() => api.request('DELETE', `/api/pinboard/notes/${n.id}?reason=${encodeURIComponent(v.reason.trim())}`), 'Deleted');
      } }, 'Delete'));
      b.push(h('button', { type: 'button', 'aria-label': label('History'), onclick: async () => {
        try {
          const hist = await api.get(`/api/pinboard/notes/${n.id}/history`);
          const lines = hist.revisions.map((r) => `v${r.version} (${fmtTime(r.replaced_at)}): ${r.text}`);
          await showInfo(`Earlier versions of note ${n.id}`, lines.length ? lines : ['No earlier versions.']);
        } catch (err) { toast(err.message, 'error'); }
      } }, 'History'));
    }
    return b;
  }

  function table(title, notes, empty) {
    return h('section', { class: 'card' }, h('h2', {}, `${title} (${notes.length})`),
      notes.length ? h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', {}, 'Note'), h('th', {}, 'Author'), h('th', {}, 'State'), h('th', {}, 'Actions'))),
        h('tbody', {}, notes.map((n) => h('tr', { dataset: { noteId: n.id } },
          h('td', {}, n.text),
          h('td', {}, n.author ? n.author.name : (n.anonymous ? 'anonymous' : 'former participant')),
          h('td', {}, n.state, n.offline_reason ? ` — ${n.offline_reason}` : ''),
          h('td', { class: 'row' }, actions(n)))))))
        : h('p', { class: 'muted' }, empty));
  }

  function draw(queue) {
    const notes = snap.notes;
    const premod = h('input', { type: 'checkbox', id: 'premod', checked: snap.board.premoderation });
    premod.addEventListener('change', () => act(() => api.patch(`/api/pinboard/boards/${snap.board.id}`, { premoderation: premod.checked }), premod.checked ? 'Pre-moderation on' : 'Pre-moderation off'));
    const anon = h('input', { type: 'checkbox', id: 'anon-notes', checked: Boolean(snap.board.anonymous) });
    anon.addEventListener('change', () => act(() => api.patch(`/api/pinboard/boards/${snap.board.id}`, { anonymous: anon.checked }), anon.checked ? 'New notes are anonymous' : 'New notes show their author'));
    replace(box,
      h('div', { class: 'card row' },
        premod, h('label', { for: 'premod' }, 'Pre-moderation: released notes wait for approval'),
        anon, h('label', { for: 'anon-notes' }, 'Anonymous notes: new notes show no author'),
        h('span', { class: 'grow' }),
        h('a', { href: `/api/pinboard/boards/${snap.board.id}/export.json`, download: 'board.json' }, 'Export JSON'),
        h('a', { href: `/api/pinboard/boards/${snap.board.id}/export.csv`, download: 'board.csv' }, 'Export CSV'),
        h('a', { href: `/api/pinboard/boards/${snap.board.id}/photos.zip`, download: 'photos.zip' }, 'Photos (zip)')),
      table('Waiting for approval', queue.length ? queue : notes.filter((n) => n.state === 'pending'), 'Nothing waiting.'),
      table('Taken offline', notes.filter((n) => n.state === 'offline'), 'No note is offline.'),
      table('On the board', notes.filter((n) => n.state === 'published'), 'No notes yet.'));
  }

  await refresh();
  if (snap && snap.viewer.moderator) {
    // Any change on the board refreshes the lists (a trainer's screen, not the hot path).
    let timer = null;
    sub = await session.rt.subscribe(snap.channel, (msg) => {
      if (msg.kind !== 'event') return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    }, { since: snap.last_seq, history: false });
  }
  return () => { if (sub) sub.unsubscribe(); };
}
