// The presenter view of an event's Q&A (/present/qa/<event>): full screen, large type, the
// top questions live, for a projector; and where participants join.
import { render as paint, html, nothing } from '../../vendor/lit-html/lit-html.js';
import { repeat } from '../../vendor/lit-html/directives/repeat.js';
import { h } from '../dom.js';
import { followQa } from '../qa.js';

const TOP = 8;

function presentView(event, state) {
  const open = state.sorted('votes').filter((q) => q.state === 'visible' && !q.answered).slice(0, TOP);
  const join = `${location.origin}/events/${event.id}/qa`;
  return html`
    <header class="present-head">
      <h1>${event.title}: questions</h1>
      <p class="join">Ask and vote at <strong>${join}</strong>${state.qa.open ? nothing : html` · <span class="closed">closed</span>`}</p>
    </header>
    ${open.length ? html`<ol class="present-questions" aria-label="Top questions">${repeat(open, (q) => q.id, (q) => html`
      <li class=${q.pinned ? 'pinned' : nothing} data-question-id=${q.id}>
        <span class="votes" aria-label=${`${q.votes} votes`}>${q.votes}</span>
        <span class="text">${q.text}</span>
      </li>`)}</ol>` : html`<p class="muted">No open questions yet.</p>`}`;
}

export async function render(main, params) {
  const id = Number(params.id);
  const { loadEvent } = await import('./room.js');
  const { event } = await loadEvent(id);
  document.body.classList.add('presenting');
  const root = h('section', { class: 'present', 'aria-label': 'Presenter view' });
  main.append(root);
  let live = null;
  const draw = () => { if (live) paint(presentView(event, live.state), root); };
  live = await followQa(`/api/events/${id}/qa`, draw);
  draw();
  return () => { document.body.classList.remove('presenting'); live.dispose(); };
}
