// The pinboard: sections with notes, photos, replies, votes, drafts, drag to move.
//
// Loads the snapshot over HTTP (state + the channel's last_seq), then follows the
// board channel from there. Changes private to this viewer (their drafts, offline
// notes for moderators) come from the HTTP answers of their own actions or a re-fetch.
//
//   board/state.js    the data, keyed by note id, changed by snapshots and events
//   board/actions.js  what this viewer may do, over HTTP
//   board/view.js     lit-html templates drawn from the state (keyed lists)
//
// Every change ends in draw(): one render per microtask, from the state alone. lit-html
// writes only what changed, so focus, typed text and open selects survive live updates.
import { render } from '../vendor/lit-html/lit-html.js';
import { h } from './dom.js';
import * as api from './api.js';
import { session } from './session.js';
import { pendingHttp, onOutboxChange } from './outbox.js';
import { BoardState } from './board/state.js';
import { createActions } from './board/actions.js';
import { pinboardView } from './board/view.js';

let boards = 0;

export async function createBoard(event, members, { groupId = null } = {}) {
  const snapPath = groupId ? `/api/pinboard/groups/${groupId}/board` : `/api/pinboard/events/${event.id}/board`;
  const root = h('section', { class: 'pinboard', 'aria-label': 'Pinboard' });
  let state;
  let stale = false;
  try {
    const answer = await api.cachedGet(snapPath);
    state = new BoardState(answer.data, session.me.id);
    stale = answer.stale;
  } catch (err) {
    root.append(h('p', { class: 'error' }, `The pinboard cannot be shown: ${err.message}`));
    return { el: root, dispose() {} };
  }

  let disposed = false;
  let drawQueued = false;
  const draw = () => {
    if (drawQueued || disposed) return;
    drawQueued = true;
    queueMicrotask(() => {
      drawQueued = false;
      if (!disposed) render(pinboardView(view), root);
    });
  };
  const actions = createActions(state, { isAdmin: Boolean(session.me.is_admin), changed: draw });
  const prefix = `board${++boards}`;
  const view = {
    state,
    actions,
    unsent: [],
    get stale() { return stale; },
    ids: { text: `${prefix}-note`, colour: `${prefix}-colour`, photo: `${prefix}-photo`, newSection: `${prefix}-new-section` },
    composing: null, // the section whose composer is open ('unsorted' or its id), or null
    addingSection: false,
    mayWriteIn: (s) => !s || (s.admin_locked ? Boolean(session.me.is_admin) : !s.locked || state.moderator),
    onCompose,
    onAddSection,
    openComposer,
    closeComposer,
    toggleSectionForm,
  };

  // Opening and closing draw at once (not in the next microtask) so focus can move to
  // what was just drawn: the composer's text, or back to the "+ note" that opened it.
  const drawNow = () => { if (!disposed) render(pinboardView(view), root); };
  const focus = (selector) => { const el = root.querySelector(selector); if (el) el.focus(); };

  function openComposer(key) {
    view.composing = key;
    drawNow();
    focus(`#${view.ids.text}`);
  }

  function closeComposer() {
    const key = view.composing;
    view.composing = null;
    drawNow();
    if (key !== null) focus(`button[data-add-note="${key}"]`);
  }

  function toggleSectionForm() {
    view.addingSection = !view.addingSection;
    drawNow();
    focus(view.addingSection ? `#${view.ids.newSection}` : 'button.add-section');
  }

  async function onCompose(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const { note, colour, photo } = form.elements;
    const release = (ev.submitter ? ev.submitter.value : 'post') !== 'draft';
    const key = view.composing;
    const body = { text: note.value.trim(), colour: colour.value, section_id: typeof key === 'number' ? key : null, release };
    if (!body.text) return;
    const file = photo.files && photo.files[0];
    await actions.postNote(body, file, () => {
      note.value = '';
      photo.value = '';
      if (view.composing === key) closeComposer();
    });
  }

  async function onAddSection(ev) {
    ev.preventDefault();
    const input = ev.currentTarget.elements['section-title'];
    if (await actions.addSection(input.value)) {
      input.value = '';
      toggleSectionForm();
    }
  }

  async function drawUnsent() {
    view.unsent = await pendingHttp((i) => i.meta && i.meta.board === state.board.id);
    draw();
  }

  function apply(e) {
    const { changed, refetch } = state.apply(e);
    if (refetch !== null) actions.refetch(refetch);
    if (changed) draw();
  }

  const offOutbox = onOutboxChange(() => { drawUnsent(); });
  render(pinboardView(view), root);
  drawUnsent();

  const sub = await session.rt.subscribe(state.board.channel, async (msg) => {
    if (msg.kind === 'event') apply(msg.event);
    else if (msg.kind === 'reset') {
      try { state.load(await api.get(snapPath)); stale = false; draw(); } catch { /* stays as it is */ }
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
    if (b.board_id === state.board.id && b.note_id) actions.refetch(b.note_id);
  };
  document.addEventListener('classhub:personal', onPersonal);

  return {
    el: root,
    state,
    dispose() {
      disposed = true;
      offOutbox();
      document.removeEventListener('classhub:personal', onPersonal);
      sub.unsubscribe();
    },
  };
}
