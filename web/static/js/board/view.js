// The pinboard's markup as lit-html templates, drawn from the state alone.
//
// lit-html updates the DOM in place: only the parts whose values changed are written,
// and lists are keyed (`repeat`): sections by id, notes by id, replies by id, buttons
// by their action. A live update therefore leaves every other element as it was: the
// focused button, the composer's text and chosen section, an image that is loading.
// Every `${}` in these templates is a text or attribute value: user content is never
// parsed as HTML (no directive that parses a value as markup is imported or even
// copied into vendor/; tests/test_webclient_serving.py checks it).
import { html, nothing } from '../../vendor/lit-html/lit-html.js';
import { repeat } from '../../vendor/lit-html/directives/repeat.js';
import { fmtClock } from '../dom.js';
import { COLOURS } from './state.js';

// v: { state, actions, ids, unsent, stale, composing, addingSection, mayWriteIn,
//      onCompose, onAddSection, openComposer, closeComposer, toggleSectionForm }
// The board comes first: a one-line head, then the sections. Writing a note is a "+ note"
// in each section that opens the composer in place; a moderator's "+ section" opens the
// section form in the head.
export function pinboardView(v) {
  const { state } = v;
  const count = state.notes.size;
  const status = `${count} note${count === 1 ? '' : 's'}${state.board.premoderation ? ' · pre-moderated' : ''}${state.board.anonymous ? ' · anonymous notes' : ''}${v.stale ? ' · offline copy' : ''}`;
  const sections = state.sortedSections();
  const columns = [null].concat(sections);
  return html`
    <div class="board-head">
      <h2>Pinboard</h2>
      <p class="muted" role="status">${status}</p>
      ${state.moderator ? html`<button type="button" class="add-section" aria-expanded=${v.addingSection ? 'true' : 'false'}
        @click=${v.toggleSectionForm}>+ section</button>` : nothing}
    </div>
    ${state.moderator && v.addingSection ? newSectionView(v) : nothing}
    <div class="unsent">${unsentView(v.unsent)}</div>
    <div class="board">${repeat(columns, (s) => (s ? s.id : 'unsorted'), (s) => sectionView(v, s))}</div>`;
}

function composerView(v, title) {
  const id = v.ids;
  return html`
    <form class="card composer-note" aria-label=${`Write a note in ${title}`} @submit=${v.onCompose}
      @keydown=${composerKeys(v)}>
      <div class="field"><label for=${id.text}>New note</label><textarea id=${id.text} name="note" rows="3" required maxlength="2000"></textarea></div>
      <div class="row">
        <div class="field"><label for=${id.colour}>Colour</label><select id=${id.colour} name="colour">
          ${COLOURS.map((c) => html`<option value=${c}>${c}</option>`)}
        </select></div>
        <div class="field"><label for=${id.photo}>Photo (optional)</label><input id=${id.photo} type="file" name="photo" accept="image/png,image/jpeg,image/webp"></div>
      </div>
      <div class="row">
        <button type="submit" class="primary" value="post">Post note</button>
        <button type="submit" value="draft">Save as draft</button>
        <button type="button" @click=${v.closeComposer}>Cancel</button>
      </div>
    </form>`;
}

// Escape closes the composer (focus goes back to its "+ note"); Ctrl/Cmd+Enter posts.
function composerKeys(v) {
  return (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      v.closeComposer();
    } else if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      ev.currentTarget.requestSubmit(ev.currentTarget.querySelector('button[value="post"]'));
    }
  };
}

function newSectionView(v) {
  return html`
    <form class="row new-section" @submit=${v.onAddSection}
      @keydown=${(ev) => { if (ev.key === 'Escape') { ev.preventDefault(); v.toggleSectionForm(); } }}>
      <div class="field"><label for=${v.ids.newSection}>New section</label><input id=${v.ids.newSection} name="section-title" maxlength="120" required></div>
      <button type="submit">Add section</button>
    </form>`;
}

// Notes written offline, waiting in the outbox (they have no id yet: keyed by client id).
function unsentView(items) {
  if (!items.length) return nothing;
  return html`
    <h2>Waiting to be sent</h2>
    <ul class="notes">${repeat(items, (i) => i.client_id, (i) => html`
      <li class="note pending" data-client-id=${i.client_id}><p class="text">${i.body.text}</p><p class="meta">not sent yet: offline</p></li>`)}
    </ul>`;
}

function sectionView(v, section) {
  const { state, actions } = v;
  const id = section ? section.id : null;
  const key = id ?? 'unsorted';
  const title = section ? section.title : 'Unsorted';
  const notes = state.notesIn(id);
  const tags = section ? `${section.locked ? ' (locked)' : ''}${section.admin_locked ? ' (read-only)' : ''}` : '';
  return html`
    <section class="section" data-section-id=${id ?? ''} aria-label=${`Section ${title}`}
      @dragover=${dragOver} @dragleave=${dragLeave} @drop=${(ev) => drop(ev, id, actions)}>
      <h2><span>${title}${tags}</span><span class="muted">${String(notes.length)}</span></h2>
      ${state.viewer.may_post && v.mayWriteIn(section) ? addNoteView(v, key, title) : nothing}
      ${state.moderator && section ? html`<div class="row">${repeat(actions.forSection(section), (a) => a.key, (a) => html`
        <button type="button" class=${a.cls || nothing} aria-label=${a.label} @click=${a.run}>${a.text}</button>`)}</div>` : nothing}
      <ol class="notes">${repeat(notes, (n) => n.id, (n) => noteView(v, n))}</ol>
    </section>`;
}

// "+ note", or the composer in its place while this section's note is being written.
function addNoteView(v, key, title) {
  if (v.composing === key) return composerView(v, title);
  return html`<button type="button" class="add-note" data-add-note=${key} aria-expanded="false"
    @click=${() => v.openComposer(key)}>+ note<span class="sr"> in ${title}</span></button>`;
}

function noteView(v, n) {
  const { state, actions } = v;
  const movable = actions.movable(n);
  const colour = COLOURS.includes(n.colour) ? n.colour : 'yellow';
  const author = n.author ? n.author.name : (n.anonymous ? 'Anonymous' : 'former participant');
  const flags = [];
  if (n.state === 'draft') flags.push('draft (only you see it)');
  if (n.state === 'pending') flags.push('waiting for approval');
  if (n.state === 'offline') flags.push(`taken offline${n.offline_reason ? `: ${n.offline_reason}` : ''}`);
  if (n.pinned) flags.push('pinned');
  if (n.edited) flags.push('edited');
  const votes = n.votes || 0;
  // Colours are classes: the CSP forbids inline style attributes.
  return html`
    <li class=${`note ${n.state}${n.pinned ? ' pinned' : ''} colour-${colour}`} data-note-id=${n.id} data-state=${n.state}
      draggable=${movable ? 'true' : nothing} aria-label=${`Note by ${author}`} @dragstart=${(ev) => dragStart(ev, n, movable)}>
      ${n.state === 'deleted'
        ? html`<p class="muted">This note was deleted.</p>`
        : html`<p class="text">${n.text}</p>${n.photo ? html`<img src=${n.photo.thumb_url} alt="Photo attached to the note" loading="lazy">` : nothing}`}
      <p class="meta">${state.mine(n) ? (n.anonymous ? 'You (anonymous)' : 'You') : author}${n.created_at ? ` · ${fmtClock(n.created_at)}` : ''}${` · ${votes} vote${votes === 1 ? '' : 's'}`}${flags.length ? html`<span class="flags"> · ${flags.join(' · ')}</span>` : nothing}</p>
      ${n.replies.length ? html`<ul class="replies" aria-label="Replies">${repeat(n.replies, (r) => r.id, replyView)}</ul>` : nothing}
      <div class="actions">${repeat(actions.forNote(n), (a) => a.key, (a) => html`
        <button type="button" class=${a.cls || nothing} aria-label=${`${a.label}: note ${n.id}`} @click=${a.run}>${a.label}</button>`)}</div>
    </li>`;
}

function replyView(r) {
  return html`<li data-reply-id=${r.id}>${r.deleted
    ? html`<span class="muted">reply deleted</span>`
    : html`<strong>${r.author ? r.author.name : 'former participant'}</strong>: ${r.text}`}</li>`;
}

// --- drag and drop -------------------------------------------------------------
function dragStart(ev, n, movable) {
  // A photo inside a note is draggable by itself; only a note this viewer may move carries its id.
  if (!movable) return;
  ev.dataTransfer.setData('text/x-note', String(n.id));
  ev.dataTransfer.effectAllowed = 'move';
}

function dragOver(ev) {
  ev.preventDefault();
  ev.currentTarget.classList.add('drop');
}

function dragLeave(ev) {
  ev.currentTarget.classList.remove('drop');
}

function drop(ev, sectionId, actions) {
  ev.preventDefault();
  const col = ev.currentTarget;
  col.classList.remove('drop');
  const noteId = Number(ev.dataTransfer.getData('text/x-note'));
  if (!noteId) return;
  // The index is where the drop landed among this section's other notes.
  const others = [...col.querySelectorAll('ol.notes > li.note')].filter((li) => Number(li.dataset.noteId) !== noteId);
  let index = others.length;
  for (let i = 0; i < others.length; i += 1) {
    const r = others[i].getBoundingClientRect();
    if (ev.clientY < r.top + r.height / 2) { index = i; break; }
  }
  actions.move(noteId, sectionId, index);
}
