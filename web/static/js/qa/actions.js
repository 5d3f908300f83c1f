// What this viewer may do in a Q&A, and doing it over HTTP. Each action has a stable key
// (the view keys its buttons by it) and a run() that calls the API, folds the answer into
// the state and asks for a redraw.
import { ask, toast } from '../dom.js';
import * as api from '../api.js';

export function createActions(state, { changed, refetch, reviewing }) {
  const path = (q, tail = '') => `/api/qa/questions/${q.id}${tail}`;

  async function act(fn) {
    try {
      const out = await fn();
      if (out && out.id && out.qa_id) state.upsert(out);
      changed();
      return out;
    } catch (err) {
      toast(err.message, 'error');
      return null;
    }
  }

  async function vote(q) {
    const out = await act(() => (q.my_vote ? api.del(path(q, '/vote')) : api.post(path(q, '/vote'))));
    if (out) { state.setVotes(out.question_id, out.votes, out.my_vote); changed(); }
  }

  async function merge(q) {
    const others = state.visible().filter((o) => o.id !== q.id);
    if (!others.length) { toast('There is no other question to merge into.', 'error'); return; }
    const answer = await ask('Merge a duplicate', [{
      name: 'into', label: 'Merge into', type: 'select', required: true,
      options: others.map((o) => [String(o.id), o.text.slice(0, 80)]),
    }], 'Merge');
    if (!answer) return;
    if (await act(() => api.post(path(q, '/merge'), { into: Number(answer.into) }))) {
      state.questions.delete(q.id);
      changed();
    }
  }

  function forQuestion(q, st) {
    const list = [];
    if (q.state === 'visible' && !reviewing) {
      list.push({ key: 'vote', label: q.my_vote ? 'Withdraw vote' : 'Upvote', text: q.my_vote ? '▲ Voted' : '▲ Upvote', pressed: Boolean(q.my_vote), run: () => vote(q) });
    }
    if (!st.moderator) return list;
    if (q.state === 'pending') list.push({ key: 'approve', label: 'Approve', run: () => act(() => api.post(path(q, '/moderate'), { action: 'approve' })) });
    if (q.state === 'visible') {
      list.push({ key: 'answered', label: q.answered ? 'Mark open' : 'Mark answered', run: () => act(() => api.patch(path(q), { answered: !q.answered })) });
      list.push({ key: 'pin', label: q.pinned ? 'Unpin' : 'Pin', run: () => act(() => api.patch(path(q), { pinned: !q.pinned })) });
    }
    if (q.state === 'hidden') list.push({ key: 'unhide', label: 'Show again', run: () => act(() => api.post(path(q, '/moderate'), { action: 'unhide' })) });
    else list.push({ key: 'hide', label: 'Hide', run: () => act(() => api.post(path(q, '/moderate'), { action: 'hide' })) });
    list.push({ key: 'merge', label: 'Merge into…', run: () => merge(q) });
    return list;
  }

  async function settings(patch) {
    try {
      state.qa = await api.patch(`/api/qa/${state.qa.id}`, patch);
      changed();
    } catch (err) {
      toast(err.message, 'error');
      refetch();
    }
  }

  async function askQuestion(text) {
    return act(() => api.post(`/api/qa/${state.qa.id}/questions`, { text }));
  }

  return { forQuestion, settings, askQuestion };
}
