// The activities panel of an event room (or a learning group): polls, quizzes, word clouds.
//
// Loads the listing over HTTP (activities + the channel's last_seq), then follows the
// board channel from there, where activity.changed / activity.deleted / activity.tally
// events travel. Tallies are coalesced by the server (a few a second per activity).
//
//   activities/state.js  the data, keyed by id, changed by the listing and events
//   activities/view.js   lit-html templates (also the presenter's results)
import { html, render } from '../vendor/lit-html/lit-html.js';
import { h, toast, ask } from './dom.js';
import * as api from './api.js';
import { session } from './session.js';
import { ActivityState } from './activities/state.js';
import { activitiesView, scoresView } from './activities/view.js';

let panels = 0;

// Follows a room's activities: calls changed() after every change. Used by the panel and
// by the presenter view.
export async function followActivities(eventId, { groupId = null, changed }) {
  const listPath = `/api/events/${eventId}/activities`;
  const query = groupId ? { group_id: groupId } : undefined;
  const state = new ActivityState(await api.get(listPath, query));
  const refetching = new Set();
  async function refetch(id) {
    if (refetching.has(id)) return;
    refetching.add(id);
    try {
      const r = await api.get(`/api/activities/${id}/results`);
      const a = state.items.get(id);
      if (a && (!a.results || r.version >= a.results.version)) a.results = r;
      changed();
    } catch { /* the next tally asks again */ } finally { refetching.delete(id); }
  }
  const sub = await session.rt.subscribe(state.channel, async (msg) => {
    if (msg.kind === 'event') {
      const { changed: c, refetch: id } = state.apply(msg.event);
      if (id !== null) refetch(id);
      if (c) changed(msg.event);
    } else if (msg.kind === 'reset') {
      try { state.load(await api.get(listPath, query)); changed(); } catch { /* stays */ }
    }
  }, { since: state.lastSeq, history: false });
  for (const e of sub.events) if (e.seq > state.lastSeq) state.apply(e);
  return { state, refetch, reload: async () => { state.load(await api.get(listPath, query)); changed(); }, dispose: sub.unsubscribe };
}

function optionsFrom(text) {
  const options = [];
  const correct = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (line.startsWith('*')) correct.push(options.length);
    options.push(line.replace(/^\*\s*/, ''));
  }
  return { options, correct };
}

export async function createActivities(event, { groupId = null } = {}) {
  const root = h('section', { class: 'activities-panel', 'aria-label': 'Live activities' });
  let disposed = false;
  let queued = false;
  let scores = null;
  let follow;
  const draw = () => {
    if (queued || disposed) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      if (!disposed) render(html`${activitiesView(view)}${scoresView(scores)}`, root);
    });
  };
  let scoresTimer = null;
  const loadScores = () => {
    if (scoresTimer || groupId) return;
    scoresTimer = setTimeout(async () => {
      scoresTimer = null;
      try { scores = await api.get(`/api/events/${event.id}/quiz-scores`); draw(); } catch { /* keep */ }
    }, 300);
  };
  try {
    follow = await followActivities(event.id, { groupId, changed: (e) => { draw(); if (e && (e.type === 'activity.changed' || follow.state.manages)) loadScores(); } });
  } catch (err) {
    root.append(h('p', { class: 'error' }, `The activities cannot be shown: ${err.message}`));
    return { el: root, dispose() {} };
  }
  const { state } = follow;

  async function call(fn) {
    try { const out = await fn(); draw(); return out; } catch (err) { toast(err.message, 'error'); return null; }
  }
  const fresh = (a) => { state.put(a); draw(); loadScores(); };
  const act = {
    async create(ev) {
      ev.preventDefault();
      const f = ev.currentTarget.elements;
      const kind = f.kind.value;
      const { options, correct } = kind === 'poll' ? optionsFrom(f.options.value) : { options: [], correct: [] };
      const body = { kind, title: f.title.value.trim(), options, correct, multiple: f.multiple.checked, changeable: !f.fixed.checked, time_limit_secs: f.limit.value ? Number(f.limit.value) : null };
      if (groupId) body.group_id = groupId;
      const a = await call(() => api.post(`/api/events/${event.id}/activities`, body));
      if (a) { fresh(a); ev.target.reset(); }
    },
    open: async (a) => { const x = await call(() => api.post(`/api/activities/${a.id}/state`, { state: 'open' })); if (x) fresh(x); },
    close: async (a) => { const x = await call(() => api.post(`/api/activities/${a.id}/state`, { state: 'closed' })); if (x) fresh(x); },
    reveal: async (a, shown) => { const x = await call(() => api.post(`/api/activities/${a.id}/results`, { shown })); if (x) fresh(x); },
    hideTerm: async (a, term, hidden) => { const x = await call(() => api.post(`/api/activities/${a.id}/hidden-terms`, { term, hidden })); if (x) fresh(x); },
    async remove(a) {
      if (!window.confirm(`Delete “${a.title}” and its answers?`)) return;
      if (await call(() => api.del(`/api/activities/${a.id}`))) { state.items.delete(a.id); draw(); }
    },
    async copy(a) {
      const got = await ask('Copy to another event', [{ name: 'event_id', label: 'Event number', type: 'number', required: true }], 'Copy');
      if (!got) return;
      const x = await call(() => api.post(`/api/activities/${a.id}/copy`, { event_id: Number(got.event_id) }));
      if (x) toast(`Copied as a draft into event ${x.event_id}.`);
    },
    async answer(ev, a) {
      ev.preventDefault();
      const f = ev.currentTarget;
      const body = a.kind === 'poll'
        ? { choices: [...f.querySelectorAll('input[name=choice]:checked')].map((i) => Number(i.value)) }
        : { text: f.elements.text.value };
      if (a.kind === 'poll' && !body.choices.length) { toast('Choose an option first.', 'error'); return; }
      const mine = await call(() => api.post(`/api/activities/${a.id}/answer`, body));
      if (mine) {
        const cur = state.items.get(a.id);
        if (cur) cur.my_answer = mine;
        if (a.kind === 'wordcloud') f.reset();
        toast('Answer sent.');
        draw();
      }
    },
  };
  const prefix = `act${++panels}`;
  const view = { state, act, eventId: event.id, groupId, ids: { kind: `${prefix}-kind`, title: `${prefix}-title`, options: `${prefix}-options`, limit: `${prefix}-limit` } };
  loadScores();
  draw();
  return { el: root, state, dispose() { disposed = true; if (scoresTimer) clearTimeout(scoresTimer); follow.dispose(); } };
}
