// A Q&A's data as this viewer sees it: its settings and its questions keyed by id.
// Changed by the HTTP snapshot, the answers to this viewer's own actions and the board
// channel's Q&A events; no DOM and no I/O, so the view re-renders from it.
//
// Events carry what the whole room may see: never an anonymous question's author, never
// this viewer's own vote. So an event updates a question without touching `mine` and
// `my_vote`, which only this viewer's HTTP answers set. When an event says a question
// changed in a way only some viewers may see (held for approval, hidden), apply() asks
// for the snapshot again (refetch) instead of guessing.

// The orders of storage/qa_core.py: pinned first, open before answered, then the most
// votes (a tie: asked first) or the newest.
export function rank(a, b, order) {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  if (a.answered !== b.answered) return a.answered ? 1 : -1;
  if (order === 'time') return b.id - a.id;
  return (b.votes - a.votes) || (a.id - b.id);
}

export class QaState {
  constructor(data) {
    this.order = 'votes';
    this.load(data);
  }

  load(data) {
    this.qa = data.qa;
    this.moderator = Boolean(data.moderator);
    this.lastSeq = data.last_seq;
    this.version = -1;
    this.questions = new Map(data.questions.map((q) => [q.id, q]));
  }

  upsert(q) {
    const old = this.questions.get(q.id) || { mine: false, my_vote: false };
    this.questions.set(q.id, { ...old, ...q, mine: q.mine ?? old.mine, my_vote: q.my_vote ?? old.my_vote });
  }

  setVotes(id, votes, myVote) {
    const q = this.questions.get(id);
    if (!q) return;
    q.votes = votes;
    if (myVote !== undefined) q.my_vote = myVote;
  }

  sorted(order = this.order) {
    return [...this.questions.values()].filter((q) => q.state !== 'merged').sort((a, b) => rank(a, b, order));
  }

  visible() { return this.sorted().filter((q) => q.state === 'visible'); }

  pending() { return this.sorted('time').filter((q) => q.state === 'pending'); }

  // One event of the board channel; returns { changed, refetch }.
  apply(e) {
    const b = e.body || {};
    const ours = (id) => id === this.qa.id;
    switch (e.type) {
      case 'qa.updated':
        if (!b.qa || !ours(b.qa.id)) return { changed: false, refetch: false };
        this.qa = b.qa;
        return { changed: true, refetch: false };
      case 'qa.votes':
        if (!ours(b.qa_id) || b.version < this.version) return { changed: false, refetch: false };
        this.version = b.version;
        for (const v of b.votes || []) this.setVotes(v.id, v.votes);
        return { changed: true, refetch: false };
      case 'question.asked':
      case 'question.changed':
        if (!b.question || !ours(b.question.qa_id)) return { changed: false, refetch: false };
        this.upsert(b.question);
        return { changed: true, refetch: false };
      case 'question.pending':
        return { changed: false, refetch: ours(b.qa_id) && this.moderator };
      case 'question.removed':
        if (!ours(b.qa_id)) return { changed: false, refetch: false };
        if (this.moderator && !b.merged_into) return { changed: false, refetch: true };
        this.questions.delete(b.id);
        return { changed: true, refetch: false };
      default:
        return { changed: false, refetch: false };
    }
  }
}
