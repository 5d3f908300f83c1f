// The Q&A on a projector: the top open questions, live, in large type. Mounted by the
// Q&A's presenter page (screens/present_qa.js) into any host element.
import { render as paint, html, nothing } from '../../vendor/lit-html/lit-html.js';
import { repeat } from '../../vendor/lit-html/directives/repeat.js';
import { followQa } from '../qa.js';

const TOP = 8;

function topView(state, title, joinUrl) {
  const open = state.sorted('votes').filter((q) => q.state === 'visible' && !q.answered).slice(0, TOP);
  return html`
    <header class="present-head">
      <h1>${title}</h1>
      <p class="join">Ask and vote at <strong>${joinUrl}</strong>${state.qa.open ? nothing : html` · <span class="closed">closed</span>`}</p>
    </header>
    ${open.length ? html`<ol class="present-questions" aria-label="Top questions">${repeat(open, (q) => q.id, (q) => html`
      <li class=${q.pinned ? 'pinned' : nothing} data-question-id=${q.id}>
        <span class="votes" aria-label=${`${q.votes} votes`}>${q.votes}</span>
        <span class="text">${q.text}</span>
      </li>`)}</ol>` : html`<p class="muted">No open questions yet.</p>`}`;
}

// Draws an event's top questions into `host` and keeps them live; returns { dispose() }.
export function mountTopQuestions(host, { eventId, title = 'Questions' }) {
  let live = null;
  let gone = false;
  const joinUrl = `${location.origin}/events/${eventId}/qa`;
  const draw = () => { if (live && !gone) paint(topView(live.state, title, joinUrl), host); };
  const ready = followQa(`/api/events/${eventId}/qa`, draw).then((it) => {
    live = it;
    if (gone) it.dispose(); else draw();
  });
  return { ready, dispose() { gone = true; if (live) live.dispose(); } };
}
