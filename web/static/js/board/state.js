// The pinboard's data as this viewer sees it: the board, its sections and its notes
// keyed by id. Changed by the HTTP snapshot, the answers to this viewer's own actions
// and the board channel's events; no DOM and no I/O, so the view re-renders from it.
//
// Board events carry only what every reader may see. When one says a note changed in
// a way only some viewers may see (taken offline, waiting for approval), apply() asks
// for the note to be fetched again instead of guessing.

export const COLOURS = ['yellow', 'blue', 'green', 'pink', 'orange', 'purple'];

export class BoardState {
  constructor(data, meId) {
    this.meId = meId;
    this.load(data);
  }

  // A snapshot (`GET .../board`): replaces everything.
  load(data) {
    this.board = data.board;
    this.viewer = data.viewer;
    this.sections = data.sections;
    this.notes = new Map(data.notes.map((n) => [n.id, withDefaults(n)]));
    this.lastSeq = data.last_seq;
  }

  get moderator() { return Boolean(this.viewer && this.viewer.moderator); }

  // An anonymous note names nobody: only the viewer's own answers say it is theirs (`mine`).
  mine(n) { return Boolean(n.mine || (n.author && n.author.id === this.meId)); }

  upsert(note) {
    const old = this.notes.get(note.id);
    // An event's note has no `mine`: keep what this viewer's own answer said.
    this.notes.set(note.id, withDefaults({ ...(old || {}), ...note, mine: note.mine ?? (old && old.mine) }));
  }

  remove(id) { this.notes.delete(id); }

  addReply(noteId, reply) {
    const n = this.notes.get(noteId);
    if (!n || n.replies.some((r) => r.id === reply.id)) return false;
    n.replies = n.replies.concat([reply]);
    return true;
  }

  addSection(section) {
    this.sections = this.sections.filter((s) => s.id !== section.id).concat([section]);
  }

  // Moves at once (the server's note.moved event then sets every position right).
  move(noteId, sectionId, index) {
    const n = this.notes.get(noteId);
    if (!n) return false;
    n.section_id = sectionId;
    n.position = index + 0.5;
    return true;
  }

  sortedSections() {
    return this.sections.slice().sort((a, b) => a.position - b.position || a.id - b.id);
  }

  // The notes of one section (null: Unsorted), pinned first, then by position.
  notesIn(sectionId) {
    return [...this.notes.values()]
      .filter((n) => (n.section_id ?? null) === sectionId)
      .sort((a, b) => (b.pinned - a.pinned) || (a.position - b.position) || (a.id - b.id));
  }

  // One board event. Returns { changed, refetch }: whether anything shown changed, and
  // the id of a note to fetch again (its new state is not in the event), or null.
  apply(e) {
    const b = e.body || {};
    const note = (id) => this.notes.get(id);
    switch (e.type) {
      case 'note.published':
        this.upsert(b.note);
        // A reinstated note was dropped from this board when it went offline (or was never
        // here): the event carries what every reader sees, not its replies or this viewer's
        // vote. Fetching it again brings both, so its Vote/Unvote says the truth.
        if (b.via === 'reinstate') return { changed: true, refetch: b.note.id };
        break;
      case 'note.edited':
        this.upsert(b.note);
        break;
      case 'note.pending':
      case 'note.offline': {
        const n = note(b.id);
        // A moderator and the author still see it, with its new state and reason.
        if (this.moderator || (n && this.mine(n))) return { changed: false, refetch: b.id };
        this.notes.delete(b.id);
        break;
      }
      case 'note.deleted':
        if (b.tombstone) {
          const n = note(b.id);
          if (n) this.upsert({ ...n, id: b.id, state: 'deleted', text: '', author: null, photo: null });
        } else {
          this.notes.delete(b.id);
        }
        break;
      case 'note.pinned':
        if (note(b.id)) note(b.id).pinned = b.pinned;
        break;
      case 'note.locked':
        if (note(b.id)) note(b.id).admin_locked = b.admin_locked;
        break;
      case 'note.moved':
        if (note(b.id)) note(b.id).section_id = b.section_id;
        for (const [id, pos] of b.positions || []) if (note(id)) note(id).position = pos;
        break;
      case 'section.created':
        this.addSection(b.section);
        break;
      case 'section.updated':
        this.sections = this.sections.map((s) => (s.id === b.section.id ? b.section : s));
        break;
      case 'section.deleted':
        this.sections = this.sections.filter((s) => s.id !== b.id);
        for (const n of this.notes.values()) if (n.section_id === b.id) n.section_id = null;
        break;
      case 'sections.reordered': {
        const pos = new Map((b.order || []).map((id, i) => [id, i + 1]));
        for (const s of this.sections) s.position = pos.get(s.id) ?? s.position;
        break;
      }
      case 'reply.added':
        this.addReply(b.reply.note_id, b.reply);
        break;
      case 'reply.deleted': {
        const n = note(b.note_id);
        if (n) n.replies = n.replies.map((r) => (r.id === b.id ? { ...r, deleted: true, text: '', author: null } : r));
        break;
      }
      case 'vote.changed':
        if (note(b.note_id)) note(b.note_id).votes = b.votes;
        break;
      case 'board.updated':
        if (b.board) this.board = { ...this.board, ...b.board };
        break;
      default:
        return { changed: false, refetch: null };
    }
    return { changed: true, refetch: null };
  }
}

function withDefaults(note) {
  return { replies: [], my_vote: false, ...note };
}
