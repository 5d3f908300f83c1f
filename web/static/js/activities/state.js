// Activities of one room (an event, or a learning group): the data, keyed by id, changed by
// the HTTP listing and by the channel's events. No DOM here.
//
// Tallies come coalesced (a few a second) and, with several server processes, possibly out
// of order: each carries the answer `version` it counted, and the newest one wins.

export class ActivityState {
  constructor(listing) {
    this.load(listing);
  }

  load(listing) {
    this.channel = listing.channel;
    this.lastSeq = listing.last_seq;
    this.manages = Boolean(listing.manages);
    this.mayAnswer = Boolean(listing.may_answer);
    this.items = new Map(listing.activities.map((a) => [a.id, a]));
  }

  sorted() {
    return [...this.items.values()].sort((a, b) => b.id - a.id);
  }

  // The activity a projector shows: the one opened last, unless none was opened.
  current() {
    const live = this.sorted().filter((a) => a.state !== 'draft');
    live.sort((a, b) => String(b.opened_at || '').localeCompare(String(a.opened_at || '')) || b.id - a.id);
    return live[0] || null;
  }

  put(view) {
    const old = this.items.get(view.id);
    // A view from HTTP carries the caller's answer and results; an event's view does not.
    this.items.set(view.id, { ...old, ...view, results: view.results || (old && old.results), my_answer: view.my_answer !== undefined ? view.my_answer : (old ? old.my_answer : null) });
  }

  tally(body) {
    const a = this.items.get(body.activity_id);
    if (!a) return { changed: false, refetch: null };
    const old = a.results || { version: -1 };
    if (body.version < old.version) return { changed: false, refetch: null };
    // Hidden results: the room hears only the number of answers; a trainer asks for the counts.
    const next = body.counts !== undefined ? { ...body } : { ...old, ...body, counts: old.counts, terms: old.terms };
    // The room's tally has no hidden terms: a trainer keeps theirs and asks for fresh ones.
    if (next.hidden === undefined && old.hidden) next.hidden = old.hidden;
    a.results = next;
    const trainerNeeds = body.counts === undefined || (a.kind === 'wordcloud' && (a.hidden_terms || []).length > 0);
    return { changed: true, refetch: this.manages && trainerNeeds ? a.id : null };
  }

  // Returns what changed and which activity's results to fetch again over HTTP.
  apply(e) {
    if (e.seq && e.seq > this.lastSeq) this.lastSeq = e.seq;
    const b = e.body || {};
    switch (e.type) {
      case 'activity.changed':
        this.put(b.activity);
        return { changed: true, refetch: null };
      case 'activity.deleted':
        return { changed: this.items.delete(b.id), refetch: null };
      case 'activity.tally':
        return this.tally(b);
      default:
        return { changed: false, refetch: null };
    }
  }
}

// Bars of a poll as fractions of the largest count (0..1) and percentages of all answers.
export function bars(activity) {
  const r = activity.results || {};
  const counts = r.counts || activity.options.map(() => 0);
  const most = Math.max(1, ...counts);
  const total = r.total || 0;
  return activity.options.map((label, i) => ({
    label,
    count: counts[i] || 0,
    share: (counts[i] || 0) / most,
    percent: total ? Math.round(((counts[i] || 0) * 100) / total) : 0,
    correct: Array.isArray(activity.correct) && activity.correct.includes(i),
  }));
}

// Terms of a word cloud with a size step from 1 (rare) to 6 (most frequent).
export function cloud(activity) {
  const terms = (activity.results && activity.results.terms) || [];
  const most = Math.max(1, ...terms.map(([, n]) => n));
  return terms.map(([term, n]) => ({ term, count: n, step: 1 + Math.round((5 * n) / most) }));
}
