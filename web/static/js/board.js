// The pinboard: sections with notes, photos, replies, votes, drafts, drag to move.
//
// Loads the snapshot over HTTP (state + the channel's last_seq), then follows
// the board channel from there. Board events carry only what every reader may
// see; changes private to this viewer (their drafts, offline notes for
// moderators) come from the HTTP answers of their own actions or a re-fetch.
import { h, replace, field, ask, toast, fmtClock } from './dom.js';
import * as api from './api.js';
import { session } from './app.js';
import { queueHttp, pendingHttp, onOutboxChange } from './outbox.js';
import { newClientId } from './store.js';

const COLOURS = ['yellow', 'blue', 'green', 'pink', 'orange', 'purple'];

export async function createBoard(event, members, { groupId = null } = {}) {
  const snapPath = groupId ? `/api/pinboard/groups/${groupId}/board` : `/api/pinboard/events/${event.id}/board`;
  const root = h('section', { class: 'pinboard', 'aria-label': 'Pinboard' });
  const status = h('p', { class: 'muted', role: 'status' });
  const boardEl = h('div', { class: 'board' });
  const unsent = h('div', { class: 'unsent' });
  const state = { board: null, viewer: null, sections: [], notes: new Map() };
  let sub = null;
  let disposed = false;
  let snapshotStale = false;

  try {
    const { data, stale } = await api.cachedGet(snapPath);
    load(data);
    snapshotStale = stale;
  } catch (err) {
    root.append(h('p', { class: 'error' }, `The pinboard cannot be shown: ${err.message}`));
    return { el: root, dispose() {} };
  }

  function load(data) {
    state.board = data.board;
    state.viewer = data.viewer;
    state.sections = data.sections;
    state.notes = new Map(data.notes.map((n) => [n.id, n]));
    state.lastSeq = data.last_seq;
  }

  const mod = () => Boolean(state.viewer && state.viewer.moderator);
  const me = () => session.me.id;
  const mine = (n) => n.author && n.author.id === me();

  // --- composer -------------------------------------------------------------
  const text = h('textarea', { name: 'note', rows: 3, required: true, maxlength: 2000 });
  const colour = h('select', { name: 'colour' }, COLOURS.map((c) => h('option', { value: c }, c)));
  const sectionSel = h('select', { name: 'section' });
  const photo = h('input', { type: 'file', name: 'photo', accept: 'image/png,image/jpeg,image/webp' });
  const postBtn = h('button', { type: 'submit', class: 'primary', value: 'post' }, 'Post note');
  const draftBtn = h('button', { type: 'submit', value: 'draft' }, 'Save as draft');
  const composer = h('form', { class: 'card composer-note', 'aria-label': 'Write a note' },
    field('New note', text),
    h('div', { class: 'row' }, field('Colour', colour), field('Section', sectionSel), field('Photo (optional)', photo)),
    h('div', { class: 'row' }, postBtn, draftBtn));
  composer.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const release = (ev.submitter || postBtn).value !== 'draft';
    const body = { text: text.value.trim(), colour: colour.value, section_id: sectionSel.value ? Number(sectionSel.value) : null, release };
    if (!body.text) return;
    const file = photo.files && photo.files[0];
    if (file) {
      await postWithPhoto(body, file);
      return;
    }
    try {
      const out = await queueHttp('POST', `/api/pinboard/boards/${state.board.id}/notes`, body, { board: state.board.id });
      text.value = '';
      if (out.queued) {
        toast(out.offline
          ? 'Offline: the note will be posted when the connection is back.'
          : 'The server could not take the note just now; it is sent again in a moment.');
      } else {
        upsert(out.result);
      }
      draw();
    } catch (err) {
      toast(`Not posted: ${err.message}`, 'error');
    }
  });

  // A photo needs the connection (it is not queued offline). The note goes up as a
  // draft, gets its photo, then is released: the board sees it once, with its photo,
  // instead of a photo-less note that is then "edited" to carry it.
  async function postWithPhoto(body, file) {
    let note;
    try {
      note = await api.post(`/api/pinboard/boards/${state.board.id}/notes`, { ...body, release: false, client_id: newClientId() });
    } catch (err) {
      toast(`Not posted: ${err.message}`, 'error');
      return;
    }
    upsert(note);
    text.value = '';
    photo.value = '';
    const refused = await uploadPhoto(note.id, file);
    let released = !body.release;
    if (body.release) {
      try {
        upsert(await api.post(`/api/pinboard/notes/${note.id}/release`));
        released = true;
      } catch (err) {
        toast(`Kept as a draft: ${err.message}`, 'error');
      }
    }
    if (refused && released) toast(`Photo refused: ${refused}. The note is ${body.release ? 'posted' : 'saved'} without it.`, 'error');
    draw();
  }

  // Returns why the photo was refused, or null when it is attached.
  async function uploadPhoto(noteId, file) {
    const form = new FormData();
    form.append('file', file);
    try {
      upsert(await api.request('POST', `/api/pinboard/notes/${noteId}/photo`, { form }));
      return null;
    } catch (err) {
      return err.message;
    }
  }

  // --- state changes from events ------------------------------------------
  function upsert(note) {
    const old = state.notes.get(note.id);
    state.notes.set(note.id, { replies: [], my_vote: false, ...(old || {}), ...note });
  }

  async function refetch(id) {
    try { upsert(await api.get(`/api/pinboard/notes/${id}`)); } catch (err) {
      if (err.status === 404 || err.status === 403) state.notes.delete(id);
    }
    draw();
  }

  function apply(e) {
    const b = e.body || {};
    switch (e.type) {
      case 'note.published':
      case 'note.edited':
        upsert(b.note);
        break;
      case 'note.pending':
      case 'note.offline': {
        const n = state.notes.get(b.id);
        if (mod() || (n && mine(n))) { refetch(b.id); return; }
        state.notes.delete(b.id);
        break;
      }
      case 'note.deleted':
        if (b.tombstone) {
          const n = state.notes.get(b.id);
          if (n) upsert({ ...n, id: b.id, state: 'deleted', text: '', author: null, photo: null });
        } else {
          state.notes.delete(b.id);
        }
        break;
      case 'note.pinned': {
        const n = state.notes.get(b.id);
        if (n) n.pinned = b.pinned;
        break;
      }
      case 'note.locked': {
        const n = state.notes.get(b.id);
        if (n) n.admin_locked = b.admin_locked;
        break;
      }
      case 'note.moved': {
        const n = state.notes.get(b.id);
        if (n) n.section_id = b.section_id;
        for (const [id, pos] of b.positions || []) {
          const other = state.notes.get(id);
          if (other) other.position = pos;
        }
        break;
      }
      case 'section.created':
        state.sections = state.sections.filter((s) => s.id !== b.section.id).concat([b.section]);
        break;
      case 'section.updated':
        state.sections = state.sections.map((s) => (s.id === b.section.id ? b.section : s));
        break;
      case 'section.deleted':
        state.sections = state.sections.filter((s) => s.id !== b.id);
        for (const n of state.notes.values()) if (n.section_id === b.id) n.section_id = null;
        break;
      case 'sections.reordered': {
        const pos = new Map((b.order || []).map((id, i) => [id, i + 1]));
        for (const s of state.sections) s.position = pos.get(s.id) ?? s.position;
        break;
      }
      case 'reply.added': {
        const n = state.notes.get(b.reply.note_id);
        if (n && !n.replies.some((r) => r.id === b.reply.id)) n.replies = n.replies.concat([b.reply]);
        break;
      }
      case 'reply.deleted': {
        const n = state.notes.get(b.note_id);
        if (n) n.replies = n.replies.map((r) => (r.id === b.id ? { ...r, deleted: true, text: '', author: null } : r));
        break;
      }
      case 'vote.changed': {
        const n = state.notes.get(b.note_id);
        if (n) n.votes = b.votes;
        break;
      }
      case 'board.updated':
        if (b.board) state.board = { ...state.board, ...b.board };
        break;
      default:
        return;
    }
    draw();
  }

  // --- actions --------------------------------------------------------------
  // An idempotent write (it carries a client id) tried again when its answer was lost.
  async function retried(fn, tries = 3) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= tries || !(err.status === 0 || err.status >= 500)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  async function act(fn, okMessage) {
    try {
      const out = await fn();
      if (out && out.id && out.board_id) upsert(out);
      if (okMessage) toast(okMessage);
      draw();
      return out;
    } catch (err) {
      toast(err.message, 'error');
      return null;
    }
  }

  function actionsFor(n) {
    const buttons = [];
    const btn = (label, onclick, cls = '') => h('button', { type: 'button', class: cls, onclick, 'aria-label': `${label}: note ${n.id}` }, label);
    const published = n.state === 'published';
    if (n.state === 'draft' && mine(n)) {
      buttons.push(btn('Release', () => act(() => api.post(`/api/pinboard/notes/${n.id}/release`), 'Released to the board')));
    }
    if (published && state.viewer.may_post) {
      buttons.push(btn(n.my_vote ? `Unvote (${n.votes})` : `Vote (${n.votes})`, async () => {
        const out = await act(() => (n.my_vote ? api.del(`/api/pinboard/notes/${n.id}/vote`) : api.post(`/api/pinboard/notes/${n.id}/vote`)));
        if (out) { n.my_vote = out.my_vote; n.votes = out.votes; draw(); }
      }));
      buttons.push(btn('Reply', async () => {
        const v = await ask('Reply to the note', [{ name: 'text', label: 'Your reply', type: 'textarea', required: true }], 'Reply');
        if (v && v.text.trim()) {
          // One client id per reply: a retry after a lost answer is stored once.
          const body = { text: v.text.trim(), client_id: newClientId() };
          const reply = await act(() => retried(() => api.post(`/api/pinboard/notes/${n.id}/replies`, body)));
          if (reply && !n.replies.some((r) => r.id === reply.id)) { n.replies = n.replies.concat([reply]); draw(); }
        }
      }));
    }
    if (mine(n) && n.state !== 'deleted' && !n.admin_locked) {
      buttons.push(btn('Edit', async () => {
        const v = await ask('Edit the note', [{ name: 'text', label: 'Text', type: 'textarea', required: true, value: n.text }], 'Save');
        if (v && v.text.trim()) act(() => api.patch(`/api/pinboard/notes/${n.id}`, { text: v.text.trim() }), 'Saved');
      }));
    }
    if ((mine(n) || mod()) && n.state !== 'deleted') {
      buttons.push(btn('Move', async () => {
        const options = [['', 'Unsorted']].concat(sortedSections().map((s) => [s.id, s.title]));
        const v = await ask('Move the note', [
          { name: 'section', label: 'Section', type: 'select', options, value: n.section_id ?? '' },
          { name: 'index', label: 'Position (1 = top)', type: 'number', value: '1', min: 1 },
        ], 'Move');
        if (v) move(n.id, v.section ? Number(v.section) : null, Math.max(0, Number(v.index || 1) - 1));
      }));
    }
    if (mod() && n.state !== 'deleted') {
      if (published) {
        buttons.push(btn(n.pinned ? 'Unpin' : 'Pin', () => act(() => api.post(`/api/pinboard/notes/${n.id}/pin`, { pinned: !n.pinned }))));
        buttons.push(btn('Take offline', async () => {
          const v = await ask('Take the note offline', [{ name: 'reason', label: 'Reason (sent to the author)', type: 'textarea', required: true, maxlength: 2000 }], 'Take offline');
          if (v && v.reason.trim()) act(() => api.post(`/api/pinboard/notes/${n.id}/offline`, { reason: v.reason.trim() }), 'Taken offline; the author was told');
        }, 'danger'));
      }
      if (n.state === 'offline') buttons.push(btn('Reinstate', () => act(() => api.post(`/api/pinboard/notes/${n.id}/reinstate`), 'Reinstated')));
      if (n.state === 'pending') buttons.push(btn('Approve', () => act(() => api.post(`/api/pinboard/notes/${n.id}/approve`), 'Approved')));
    }
    if (session.me.is_admin && n.state !== 'deleted') {
      buttons.push(btn(n.admin_locked ? 'Admin unlock' : 'Admin lock', () => act(() => api.post(`/api/pinboard/notes/${n.id}/admin-lock`, { locked: !n.admin_locked }))));
    }
    if ((mine(n) || mod()) && n.state !== 'deleted') {
      buttons.push(btn('Delete', async () => {
        const fields = mod() && !mine(n) ? [{ name: 'reason', label: 'Reason (sent to the author)', type: 'textarea', required: true, maxlength: 2000 }] : [];
        const v = await ask('Delete the note?', fields, 'Delete');
        if (!v) return;
        const reason = v.reason ? `?reason=${encodeURIComponent(v.reason)}` : '';
        const out = await act(() => api.request('DELETE', `/api/pinboard/notes/${n.id}${reason}`), 'Deleted');
        if (out && !out.tombstone) { state.notes.delete(n.id); draw(); }
      }, 'danger'));
    }
    return buttons;
  }

  function move(noteId, sectionId, index) {
    const n = state.notes.get(noteId);
    if (n) { n.section_id = sectionId; n.position = index + 0.5; draw(); }
    act(() => api.post(`/api/pinboard/notes/${noteId}/move`, { section_id: sectionId, index }));
  }

  // --- rendering ------------------------------------------------------------
  const sortedSections = () => state.sections.slice().sort((a, b) => a.position - b.position || a.id - b.id);

  function noteEl(n) {
    const movable = (mine(n) || mod()) && n.state !== 'deleted';
    const el = h('li', {
      // Colours are classes: the CSP forbids inline style attributes.
      class: `note ${n.state}${n.pinned ? ' pinned' : ''} colour-${COLOURS.includes(n.colour) ? n.colour : 'yellow'}`,
      dataset: { noteId: n.id, state: n.state },
      draggable: movable ? 'true' : null,
      'aria-label': `Note by ${n.author ? n.author.name : 'former participant'}`,
    });
    if (n.state === 'deleted') {
      el.append(h('p', { class: 'muted' }, 'This note was deleted.'));
    } else {
      el.append(h('p', { class: 'text' }, n.text));
      if (n.photo) el.append(h('img', { src: n.photo.thumb_url, alt: 'Photo attached to the note', loading: 'lazy' }));
    }
    const flags = [];
    if (n.state === 'draft') flags.push('draft (only you see it)');
    if (n.state === 'pending') flags.push('waiting for approval');
    if (n.state === 'offline') flags.push(`taken offline${n.offline_reason ? `: ${n.offline_reason}` : ''}`);
    if (n.pinned) flags.push('pinned');
    if (n.edited) flags.push('edited');
    el.append(h('p', { class: 'meta' },
      n.author ? (mine(n) ? 'You' : n.author.name) : 'former participant',
      n.created_at ? ` · ${fmtClock(n.created_at)}` : '',
      ` · ${n.votes || 0} vote${n.votes === 1 ? '' : 's'}`,
      flags.length ? h('span', { class: 'flags' }, ` · ${flags.join(' · ')}`) : null));
    if (n.replies && n.replies.length) {
      el.append(h('ul', { class: 'replies', 'aria-label': 'Replies' }, n.replies.map((r) => h('li', { dataset: { replyId: r.id } },
        r.deleted ? h('span', { class: 'muted' }, 'reply deleted') : [h('strong', {}, r.author ? r.author.name : 'former participant'), ': ', r.text]))));
    }
    el.append(h('div', { class: 'actions' }, actionsFor(n)));
    if (movable) {
      el.addEventListener('dragstart', (ev) => { ev.dataTransfer.setData('text/x-note', String(n.id)); ev.dataTransfer.effectAllowed = 'move'; });
    }
    return el;
  }

  function sectionEl(section) {
    const id = section ? section.id : null;
    const notes = [...state.notes.values()]
      .filter((n) => (n.section_id ?? null) === id)
      .sort((a, b) => (b.pinned - a.pinned) || (a.position - b.position) || (a.id - b.id));
    const list = h('ol', { class: 'notes' }, notes.map(noteEl));
    const title = section ? section.title : 'Unsorted';
    const head = h('h2', {}, h('span', {}, title, section && section.locked ? ' (locked)' : '', section && section.admin_locked ? ' (read-only)' : ''), h('span', { class: 'muted' }, String(notes.length)));
    const col = h('section', { class: 'section', dataset: { sectionId: id ?? '' }, 'aria-label': `Section ${title}` }, head);
    if (mod() && section) {
      col.append(h('div', { class: 'row' },
        h('button', { type: 'button', 'aria-label': `Rename section ${title}`, onclick: async () => {
          const v = await ask('Rename the section', [{ name: 'title', label: 'Title', required: true, value: title }], 'Rename');
          if (v) act(() => api.patch(`/api/pinboard/sections/${id}`, { title: v.title }));
        } }, 'Rename'),
        h('button', { type: 'button', 'aria-label': `${section.locked ? 'Unlock' : 'Lock'} section ${title}`, onclick: () => act(() => api.patch(`/api/pinboard/sections/${id}`, { locked: !section.locked })) }, section.locked ? 'Unlock' : 'Lock'),
        session.me.is_admin ? h('button', { type: 'button', 'aria-label': `Admin ${section.admin_locked ? 'unlock' : 'lock'} section ${title}`, onclick: () => act(() => api.patch(`/api/pinboard/sections/${id}`, { admin_locked: !section.admin_locked })) }, section.admin_locked ? 'Admin unlock' : 'Admin lock') : null,
        h('button', { type: 'button', class: 'danger', 'aria-label': `Delete section ${title}`, onclick: async () => {
          if (await ask(`Delete the section “${title}”? Its notes move to Unsorted.`, [], 'Delete')) act(() => api.del(`/api/pinboard/sections/${id}`));
        } }, 'Delete')));
    }
    col.append(list);
    col.addEventListener('dragover', (ev) => { ev.preventDefault(); col.classList.add('drop'); });
    col.addEventListener('dragleave', () => col.classList.remove('drop'));
    col.addEventListener('drop', (ev) => {
      ev.preventDefault();
      col.classList.remove('drop');
      const noteId = Number(ev.dataTransfer.getData('text/x-note'));
      if (!noteId) return;
      // The index is where the drop landed among this section's other notes.
      const others = [...list.querySelectorAll('li.note')].filter((li) => Number(li.dataset.noteId) !== noteId);
      let index = others.length;
      for (let i = 0; i < others.length; i += 1) {
        const r = others[i].getBoundingClientRect();
        if (ev.clientY < r.top + r.height / 2) { index = i; break; }
      }
      move(noteId, id, index);
    });
    return col;
  }

  let drawQueued = false;
  function draw() {
    if (drawQueued || disposed) return;
    drawQueued = true;
    queueMicrotask(() => {
      drawQueued = false;
      const focused = document.activeElement && document.activeElement.getAttribute('aria-label');
      const sections = sortedSections();
      replace(sectionSel, h('option', { value: '' }, 'Unsorted'), sections.map((s) => h('option', { value: String(s.id) }, s.title)));
      const cols = [sectionEl(null)].concat(sections.map(sectionEl));
      replace(boardEl, cols);
      if (focused) {
        const again = boardEl.querySelector(`[aria-label="${CSS.escape(focused)}"]`);
        if (again) again.focus();
      }
      status.textContent = `${state.notes.size} note${state.notes.size === 1 ? '' : 's'}${state.board.premoderation ? ' · pre-moderated' : ''}${snapshotStale ? ' · offline copy' : ''}`;
    });
  }

  async function drawUnsent() {
    const items = await pendingHttp((i) => i.meta && i.meta.board === state.board.id);
    replace(unsent, items.length ? [h('h2', {}, 'Waiting to be sent'), h('ul', { class: 'notes' }, items.map((i) => h('li', { class: 'note pending', dataset: { clientId: i.client_id } }, h('p', { class: 'text' }, i.body.text), h('p', { class: 'meta' }, 'not sent yet: offline'))))] : []);
  }

  // --- wiring -----------------------------------------------------------------
  const toolbar = h('div', { class: 'row' });
  if (mod()) {
    const newSection = h('input', { name: 'section-title', maxlength: 120, required: true });
    const form = h('form', { class: 'row' }, field('New section', newSection), h('button', { type: 'submit' }, 'Add section'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const s = await act(() => api.post(`/api/pinboard/boards/${state.board.id}/sections`, { title: newSection.value }));
      if (s) { newSection.value = ''; if (!state.sections.some((x) => x.id === s.id)) state.sections.push(s); draw(); }
    });
    toolbar.append(form);
  }
  root.append(h('h2', {}, 'Pinboard'), status, state.viewer.may_post ? composer : null, unsent, toolbar, boardEl);

  const offOutbox = onOutboxChange(() => {
    drawUnsent();
  });
  drawUnsent();
  draw();

  sub = await session.rt.subscribe(state.board.channel, async (msg) => {
    if (msg.kind === 'event') apply(msg.event);
    else if (msg.kind === 'reset') {
      try { load(await api.get(snapPath)); draw(); } catch { /* stays as it is */ }
    }
  }, { since: state.lastSeq, history: false });
  // Events replayed from the local cache after the snapshot are harmless: each sets state.
  for (const e of sub.events) if (e.seq > state.lastSeq) apply(e);

  const onPersonal = (ev) => {
    const e = ev.detail;
    const b = e.body || {};
    // A deleted note is gone for its author too (note.deleted on the board said so): asking
    // for it again is a 404 in the console.
    if (e.type === 'note.deleted_by_moderator') return;
    if (b.board_id === state.board.id && b.note_id) refetch(b.note_id);
  };
  document.addEventListener('classhub:personal', onPersonal);

  return {
    el: root,
    state,
    dispose() {
      disposed = true;
      offOutbox();
      document.removeEventListener('classhub:personal', onPersonal);
      if (sub) sub.unsubscribe();
    },
  };
}
