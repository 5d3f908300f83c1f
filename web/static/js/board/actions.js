// What this viewer may do on the pinboard, and doing it over HTTP.
//
// forNote() and forSection() list the actions the viewer's role allows, each with a
// stable key (the view keys its buttons by it, so a focused button stays the same
// element when a live update changes its label) and a run() that asks, calls the API,
// folds the answer into the state and asks for a redraw.
import { ask, toast } from '../dom.js';
import * as api from '../api.js';
import { queueHttp } from '../outbox.js';
import { newClientId } from '../store.js';

const REASON = { name: 'reason', label: 'Reason (sent to the author)', type: 'textarea', required: true, maxlength: 2000 };

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

export function createActions(state, { isAdmin, changed }) {
  const notePath = (n, tail = '') => `/api/pinboard/notes/${n.id}${tail}`;

  async function act(fn, okMessage) {
    try {
      const out = await fn();
      if (out && out.id && out.board_id) state.upsert(out);
      if (okMessage) toast(okMessage);
      changed();
      return out;
    } catch (err) {
      toast(err.message, 'error');
      return null;
    }
  }

  async function refetch(id) {
    try { state.upsert(await api.get(`/api/pinboard/notes/${id}`)); } catch (err) {
      if (err.status === 404 || err.status === 403) state.remove(id);
    }
    changed();
  }

  function move(noteId, sectionId, index) {
    if (state.move(noteId, sectionId, index)) changed();
    act(() => api.post(`/api/pinboard/notes/${noteId}/move`, { section_id: sectionId, index }));
  }

  const movable = (n) => (state.mine(n) || state.moderator) && n.state !== 'deleted';

  function forNote(n) {
    const out = [];
    const add = (key, label, run, cls = '') => out.push({ key, label, run, cls });
    const mine = state.mine(n);
    const mod = state.moderator;
    const published = n.state === 'published';
    const live = n.state !== 'deleted';
    if (n.state === 'draft' && mine) {
      add('release', 'Release', () => act(() => api.post(notePath(n, '/release')), 'Released to the board'));
    }
    if (published && state.viewer.may_post) {
      add('vote', n.my_vote ? `Unvote (${n.votes})` : `Vote (${n.votes})`, async () => {
        const out = await act(() => (n.my_vote ? api.del(notePath(n, '/vote')) : api.post(notePath(n, '/vote'))));
        const now = state.notes.get(n.id);
        if (out && now) { now.my_vote = out.my_vote; now.votes = out.votes; changed(); }
      });
      add('reply', 'Reply', async () => {
        const v = await ask('Reply to the note', [{ name: 'text', label: 'Your reply', type: 'textarea', required: true }], 'Reply');
        if (!v || !v.text.trim()) return;
        // One client id per reply: a retry after a lost answer is stored once.
        const body = { text: v.text.trim(), client_id: newClientId() };
        const reply = await act(() => retried(() => api.post(notePath(n, '/replies'), body)));
        if (reply && state.addReply(n.id, reply)) changed();
      });
    }
    if (mine && live && !n.admin_locked) {
      add('edit', 'Edit', async () => {
        const v = await ask('Edit the note', [{ name: 'text', label: 'Text', type: 'textarea', required: true, value: n.text }], 'Save');
        if (v && v.text.trim()) act(() => api.patch(notePath(n), { text: v.text.trim() }), 'Saved');
      });
    }
    if (movable(n)) {
      add('move', 'Move', async () => {
        const options = [['', 'Unsorted']].concat(state.sortedSections().map((s) => [s.id, s.title]));
        const v = await ask('Move the note', [
          { name: 'section', label: 'Section', type: 'select', options, value: n.section_id ?? '' },
          { name: 'index', label: 'Position (1 = top)', type: 'number', value: '1', min: 1 },
        ], 'Move');
        if (v) move(n.id, v.section ? Number(v.section) : null, Math.max(0, Number(v.index || 1) - 1));
      });
    }
    if (mod && live) {
      if (published) {
        add('pin', n.pinned ? 'Unpin' : 'Pin', () => act(() => api.post(notePath(n, '/pin'), { pinned: !n.pinned })));
        add('offline', 'Take offline', async () => {
          const v = await ask('Take the note offline', [REASON], 'Take offline');
          if (v && v.reason.trim()) act(() => api.post(notePath(n, '/offline'), { reason: v.reason.trim() }), 'Taken offline; the author was told');
        }, 'danger');
      }
      if (n.state === 'offline') add('reinstate', 'Reinstate', () => act(() => api.post(notePath(n, '/reinstate')), 'Reinstated'));
      if (n.state === 'pending') add('approve', 'Approve', () => act(() => api.post(notePath(n, '/approve')), 'Approved'));
    }
    if (isAdmin && live) {
      add('admin-lock', n.admin_locked ? 'Admin unlock' : 'Admin lock', () => act(() => api.post(notePath(n, '/admin-lock'), { locked: !n.admin_locked })));
    }
    if ((mine || mod) && live) {
      add('delete', 'Delete', async () => {
        const v = await ask('Delete the note?', mod && !mine ? [REASON] : [], 'Delete');
        if (!v) return;
        const reason = v.reason ? `?reason=${encodeURIComponent(v.reason)}` : '';
        const out = await act(() => api.request('DELETE', notePath(n, reason)), 'Deleted');
        if (out && !out.tombstone) { state.remove(n.id); changed(); }
      }, 'danger');
    }
    return out;
  }

  // A moderator's buttons on a section; `label` names the section for screen readers.
  function forSection(section) {
    const path = `/api/pinboard/sections/${section.id}`;
    const title = section.title;
    const out = [
      { key: 'rename', text: 'Rename', label: `Rename section ${title}`, run: async () => {
        const v = await ask('Rename the section', [{ name: 'title', label: 'Title', required: true, value: title }], 'Rename');
        if (v) act(() => api.patch(path, { title: v.title }));
      } },
      { key: 'lock', text: section.locked ? 'Unlock' : 'Lock', label: `${section.locked ? 'Unlock' : 'Lock'} section ${title}`,
        run: () => act(() => api.patch(path, { locked: !section.locked })) },
    ];
    if (isAdmin) {
      out.push({ key: 'admin-lock', text: section.admin_locked ? 'Admin unlock' : 'Admin lock',
        label: `Admin ${section.admin_locked ? 'unlock' : 'lock'} section ${title}`,
        run: () => act(() => api.patch(path, { admin_locked: !section.admin_locked })) });
    }
    out.push({ key: 'delete', text: 'Delete', label: `Delete section ${title}`, cls: 'danger', run: async () => {
      if (await ask(`Delete the section “${title}”? Its notes move to Unsorted.`, [], 'Delete')) act(() => api.del(path));
    } });
    return out;
  }

  async function addSection(title) {
    const s = await act(() => api.post(`/api/pinboard/boards/${state.board.id}/sections`, { title }));
    if (s) { state.addSection(s); changed(); }
    return Boolean(s);
  }

  // A new note; taken() is called once the note is the server's or the outbox's (the
  // composer is cleared then, not when the whole of a photo upload is done).
  async function postNote(body, file, taken) {
    if (file) {
      await postWithPhoto(body, file, taken);
      return;
    }
    try {
      const out = await queueHttp('POST', `/api/pinboard/boards/${state.board.id}/notes`, body, { board: state.board.id });
      taken();
      if (out.queued) {
        toast(out.offline
          ? 'Offline: the note will be posted when the connection is back.'
          : 'The server could not take the note just now; it is sent again in a moment.');
      } else {
        state.upsert(out.result);
      }
      changed();
    } catch (err) {
      toast(`Not posted: ${err.message}`, 'error');
    }
  }

  // A photo needs the connection (it is not queued offline). The note goes up as a
  // draft, gets its photo, then is released: the board sees it once, with its photo,
  // instead of a photo-less note that is then "edited" to carry it.
  async function postWithPhoto(body, file, taken) {
    let note;
    try {
      note = await api.post(`/api/pinboard/boards/${state.board.id}/notes`, { ...body, release: false, client_id: newClientId() });
    } catch (err) {
      toast(`Not posted: ${err.message}`, 'error');
      return;
    }
    state.upsert(note);
    taken();
    const refused = await uploadPhoto(note.id, file);
    let released = !body.release;
    if (body.release) {
      try {
        state.upsert(await api.post(`/api/pinboard/notes/${note.id}/release`));
        released = true;
      } catch (err) {
        toast(`Kept as a draft: ${err.message}`, 'error');
      }
    }
    if (refused && released) toast(`Photo refused: ${refused}. The note is ${body.release ? 'posted' : 'saved'} without it.`, 'error');
    changed();
  }

  // Returns why the photo was refused, or null when it is attached.
  async function uploadPhoto(noteId, file) {
    const form = new FormData();
    form.append('file', file);
    try {
      state.upsert(await api.request('POST', `/api/pinboard/notes/${noteId}/photo`, { form }));
      return null;
    } catch (err) {
      return err.message;
    }
  }

  return { forNote, forSection, movable, move, refetch, addSection, postNote };
}
