// The Q&A panel's markup as lit-html templates, drawn from the state alone.
//
// Lists are keyed by question id, so a live update (a vote count, a new question) leaves
// the composer's text and the focused button where they were. Every `${}` is a text or
// attribute value: user content is never parsed as HTML.
import { html, nothing } from '../../vendor/lit-html/lit-html.js';
import { repeat } from '../../vendor/lit-html/directives/repeat.js';
import { fmtClock } from '../dom.js';

// v: { state, actions, ids, onAsk, onOrder, reviewing }
export function qaView(v) {
  const { state } = v;
  const qs = state.sorted().filter((q) => q.state !== 'pending' || !state.moderator);
  const settings = [state.qa.open ? 'open' : 'closed'];
  if (state.qa.anonymous) settings.push('questions are anonymous');
  if (state.qa.premoderation) settings.push('questions wait for approval');
  return html`
    <h2>Questions</h2>
    <p class="muted" role="status">${`${qs.length} question${qs.length === 1 ? '' : 's'} · ${settings.join(' · ')}`}</p>
    ${state.moderator ? settingsView(v) : nothing}
    ${state.qa.open && !v.reviewing ? askView(v) : nothing}
    ${state.moderator && state.pending().length ? html`
      <h3>Waiting for approval</h3>
      <ol class="questions pending" aria-label="Questions waiting for approval">${repeat(state.pending(), (q) => q.id, (q) => questionView(v, q))}</ol>` : nothing}
    <div class="row" role="group" aria-label="Sort questions">
      <button type="button" aria-pressed=${state.order === 'votes' ? 'true' : 'false'} @click=${() => v.onOrder('votes')}>Most votes</button>
      <button type="button" aria-pressed=${state.order === 'time' ? 'true' : 'false'} @click=${() => v.onOrder('time')}>Newest</button>
    </div>
    <ol class="questions" aria-label="Questions">${repeat(qs, (q) => q.id, (q) => questionView(v, q))}</ol>`;
}

function settingsView(v) {
  const { qa } = v.state;
  const toggle = (key, label) => html`
    <label class="check"><input type="checkbox" .checked=${Boolean(qa[key])} @change=${(ev) => v.actions.settings({ [key]: ev.target.checked })}> ${label}</label>`;
  return html`
    <div class="card row qa-settings" role="group" aria-label="Q&A settings">
      ${toggle('open', 'Open for questions')}
      ${toggle('anonymous', 'Anonymous questions')}
      ${toggle('premoderation', 'Approve questions first')}
      <a href=${`/api/qa/${qa.id}/export.csv`} download>Export CSV</a>
      <a href=${`/api/qa/${qa.id}/export.json`} download>Export JSON</a>
      ${qa.group_id ? nothing : html`<a href=${`/present/qa/${qa.event_id}`} target="_blank">Presenter view</a>`}
    </div>`;
}

function askView(v) {
  const anon = v.state.qa.anonymous;
  return html`
    <form class="card composer-question" aria-label="Ask a question" @submit=${v.onAsk}>
      <div class="field"><label for=${v.ids.text}>Your question</label>
        <textarea id=${v.ids.text} name="question" rows="2" required maxlength="500"></textarea></div>
      <p class="muted">${anon ? 'Asked anonymously: nobody in the room sees your name (an admin can, with a stated reason).' : 'Your name is shown with your question.'}</p>
      <button type="submit" class="primary">Ask</button>
    </form>`;
}

function questionView(v, q) {
  const { state, actions } = v;
  const who = q.erased ? 'former participant' : (q.author ? q.author.name : 'Anonymous');
  const flags = [];
  if (q.mine) flags.push('your question');
  if (q.state === 'pending') flags.push('waiting for approval');
  if (q.state === 'hidden') flags.push('hidden');
  if (q.pinned) flags.push('pinned');
  if (q.answered) flags.push('answered');
  const votes = `${q.votes} vote${q.votes === 1 ? '' : 's'}`;
  return html`
    <li class=${`question ${q.state}${q.answered ? ' answered' : ''}${q.pinned ? ' pinned' : ''}`} data-question-id=${q.id}>
      <p class="text">${q.text}</p>
      <p class="meta"><span class="who">${who}</span> · ${fmtClock(q.created_at)} · <span class="votes">${votes}</span>${flags.length ? html` · <span class="flags">${flags.join(' · ')}</span>` : nothing}</p>
      <div class="actions">${repeat(actions.forQuestion(q, state), (a) => a.key, (a) => html`
        <button type="button" aria-pressed=${a.pressed === undefined ? nothing : String(a.pressed)} aria-label=${`${a.label}: question ${q.id}`} @click=${a.run}>${a.text || a.label}</button>`)}</div>
    </li>`;
}
