// The Q&A panel of an event room or a learning group: ask, upvote, sort; for trainers
// answered, pin, hide, merge, the approval queue and the Q&A's settings.
//
// Loads the snapshot over HTTP (state + the board channel's last_seq), then follows the
// board channel from there (Q&A events share it with the pinboard's; others are skipped).
//
//   qa/state.js    the data, keyed by question id, changed by snapshots and events
//   qa/actions.js  what this viewer may do, over HTTP
//   qa/view.js     lit-html templates drawn from the state (keyed lists)
import { render } from '../vendor/lit-html/lit-html.js';
import { h } from './dom.js';
import * as api from './api.js';
import { session } from './session.js';
import { QaState } from './qa/state.js';
import { createActions } from './qa/actions.js';
import { qaView } from './qa/view.js';

let panels = 0;

// A Q&A's state, kept live: the presenter view reuses it without the panel.
export async function followQa(snapPath, onChange) {
  const state = new QaState(await api.get(snapPath));
  let fetching = null;
  async function refetch() {
    if (fetching) return fetching;
    fetching = api.get(snapPath).then((data) => {
      const { order } = state;
      state.load(data);
      state.order = order;
      onChange();
    }).catch(() => {}).finally(() => { fetching = null; });
    return fetching;
  }
  function apply(e) {
    const { changed, refetch: again } = state.apply(e);
    if (again) refetch();
    if (changed) onChange();
  }
  const sub = await session.rt.subscribe(state.qa.channel, (msg) => {
    if (msg.kind === 'event') apply(msg.event);
    else if (msg.kind === 'reset') refetch();
  }, { since: state.lastSeq, history: false });
  for (const e of sub.events) if (e.seq > state.lastSeq) apply(e);
  return { state, refetch, dispose: sub.unsubscribe };
}

export async function createQa(event, { groupId = null, reviewing = false } = {}) {
  const snapPath = groupId ? `/api/groups/${groupId}/qa` : `/api/events/${event.id}/qa`;
  const root = h('section', { class: 'qa', 'aria-label': 'Questions and answers' });
  let disposed = false;
  let queued = false;
  const draw = () => {
    if (queued || disposed) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      if (!disposed) render(qaView(view), root);
    });
  };
  let live;
  try {
    live = await followQa(snapPath, draw);
  } catch (err) {
    root.append(h('p', { class: 'error' }, `The questions cannot be shown: ${err.message}`));
    return { el: root, dispose() {} };
  }
  const { state } = live;
  const actions = createActions(state, { changed: draw, refetch: live.refetch, reviewing });
  const view = {
    state,
    actions,
    reviewing,
    ids: { text: `qa${++panels}-text` },
    onOrder: (order) => { state.order = order; draw(); },
    async onAsk(ev) {
      ev.preventDefault();
      const input = ev.currentTarget.elements.question;
      const text = input.value.trim();
      if (text && await actions.askQuestion(text)) input.value = '';
    },
  };
  render(qaView(view), root);
  return { el: root, state, dispose() { disposed = true; live.dispose(); } };
}
