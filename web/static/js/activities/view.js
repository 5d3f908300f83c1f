// The activities panel and the presenter's panels as lit-html templates, drawn from the state.
// Every `${}` is a text or attribute value: answers are never parsed as HTML.
import { html, nothing } from '../../vendor/lit-html/lit-html.js';
import { repeat } from '../../vendor/lit-html/directives/repeat.js';
import { fmtClock } from '../dom.js';
import { bars, cloud } from './state.js';

const STATE_LABEL = { draft: 'Draft', open: 'Open', closed: 'Closed' };

// v: { state, act: { create, open, close, reveal, remove, answer, hideTerm, copy }, ids }
export function activitiesView(v) {
  const { state } = v;
  const list = state.sorted();
  return html`
    <h2>Live activities</h2>
    ${state.manages ? html`<p class="row"><a href=${`/present/${v.eventId}${v.groupId ? `?group=${v.groupId}` : ''}`} target="_blank" rel="noopener">Open the presenter view</a></p>` : nothing}
    ${state.manages ? creatorView(v) : nothing}
    ${list.length ? nothing : html`<p class="muted">No polls or word clouds yet.</p>`}
    <ol class="activities">${repeat(list, (a) => a.id, (a) => activityView(v, a))}</ol>`;
}

function creatorView(v) {
  const id = v.ids;
  return html`
    <form class="card activity-new" aria-label="New activity" @submit=${v.act.create}>
      <div class="row">
        <div class="field"><label for=${id.kind}>Kind</label><select id=${id.kind} name="kind">
          <option value="poll">Poll / quiz</option><option value="wordcloud">Word cloud</option></select></div>
        <div class="field grow"><label for=${id.title}>Question</label><input id=${id.title} name="title" required maxlength="300"></div>
      </div>
      <div class="field"><label for=${id.options}>Options (one per line; start a line with * to mark it correct for a quiz)</label>
        <textarea id=${id.options} name="options" rows="3"></textarea></div>
      <div class="row">
        <label><input type="checkbox" name="multiple"> several answers</label>
        <label><input type="checkbox" name="fixed"> answers cannot change</label>
        <div class="field"><label for=${id.limit}>Time limit (s)</label><input id=${id.limit} name="limit" type="number" min="5" max="3600"></div>
        <button type="submit">Create draft</button>
      </div>
    </form>`;
}

function activityView(v, a) {
  const quiz = a.quiz ? html` <span class="tag">quiz</span>` : nothing;
  return html`
    <li class="card activity" data-activity-id=${a.id} data-state=${a.state}>
      <h3>${a.title}</h3>
      <p class="muted"><span class="tag">${a.kind === 'poll' ? 'Poll' : 'Word cloud'}</span>${quiz}
        <span class="tag state">${STATE_LABEL[a.state] || a.state}</span>
        ${a.results ? html` · <span class="answers-count">${a.results.total} answer${a.results.total === 1 ? '' : 's'}</span>` : nothing}
        ${a.results_shown ? ' · results shown' : (v.state.manages ? ' · results hidden from the room' : '')}
        ${a.state === 'open' && a.closes_at ? html` · <span class="closes">closes at ${fmtClock(a.closes_at)}</span>` : nothing}</p>
      ${a.state === 'open' && v.state.mayAnswer ? answerView(v, a) : nothing}
      ${a.my_answer ? myAnswerView(a) : nothing}
      ${resultsView(a, { manages: v.state.manages, hide: v.act.hideTerm })}
      ${v.state.manages ? controlsView(v, a) : nothing}
    </li>`;
}

function answerView(v, a) {
  if (a.kind === 'wordcloud') {
    return html`<form class="row answer" aria-label=${`Answer: ${a.title}`} @submit=${(ev) => v.act.answer(ev, a)}>
      <input name="text" maxlength="120" required aria-label="Your word">
      <button type="submit">${a.my_answer ? 'Change answer' : 'Send'}</button></form>`;
  }
  const type = a.multiple ? 'checkbox' : 'radio';
  const chosen = new Set((a.my_answer && a.my_answer.choices) || []);
  const locked = a.my_answer && !a.changeable;
  return html`<form class="answer" aria-label=${`Answer: ${a.title}`} @submit=${(ev) => v.act.answer(ev, a)}>
    <fieldset ?disabled=${locked}><legend class="sr">Options</legend>
      ${a.options.map((o, i) => html`<label class="option"><input type=${type} name="choice" value=${i} .checked=${chosen.has(i)}> ${o}</label>`)}
    </fieldset>
    ${locked ? nothing : html`<button type="submit">${a.my_answer ? 'Change answer' : 'Vote'}</button>`}</form>`;
}

function myAnswerView(a) {
  const what = a.kind === 'poll' ? a.my_answer.choices.map((i) => a.options[i]).join(', ') : a.my_answer.text;
  // Correct answers reach the room with the results (activity.changed): judge here, live.
  let right = a.my_answer.correct;
  if (a.quiz && a.kind === 'poll' && Array.isArray(a.correct) && (a.results_shown || right !== undefined)) {
    const mine = [...a.my_answer.choices].sort().join();
    right = mine === [...a.correct].sort().join();
  }
  const mark = right === true ? ' ✔ correct' : right === false ? ' ✘ not correct' : '';
  return html`<p class="my-answer">Your answer: <strong>${what}</strong>${mark}</p>`;
}

// The results as a bar chart or a word cloud; also used by the presenter view.
export function resultsView(a, { manages = false, hide = null, big = false } = {}) {
  const r = a.results;
  if (!r || (r.counts === undefined && r.terms === undefined)) {
    return a.state === 'draft' ? nothing : html`<p class="muted results-hidden">Results are not shown yet.</p>`;
  }
  if (a.kind === 'poll') {
    return html`<ul class=${big ? 'bars big' : 'bars'} aria-label="Results">
      ${bars(a).map((b) => html`<li class=${b.correct ? 'bar correct' : 'bar'}>
        <span class="bar-label">${b.label}${b.correct ? ' ✔' : ''}</span>
        <progress class="bar-fill" max="100" .value=${Math.round(b.share * 100)} aria-hidden="true"></progress>
        <span class="bar-count" data-count=${b.count}>${b.count} (${b.percent}%)</span></li>`)}
    </ul>`;
  }
  const words = cloud(a);
  return html`<p class=${big ? 'cloud big' : 'cloud'} aria-label="Word cloud">
    ${words.length ? words.map((w) => html`<span class=${`word s${w.step}`} data-count=${w.count} title=${`${w.count}×`}>${w.term}${manages && hide ? html`<button type="button" class="link hide-term" aria-label=${`Hide ${w.term}`} @click=${() => hide(a, w.term, true)}>×</button>` : nothing}</span> `) : html`<span class="muted">No answers yet.</span>`}
    ${manages && hide && r.hidden && r.hidden.length ? html`<span class="muted">Hidden: ${r.hidden.map(([t, n]) => html`<button type="button" class="link" @click=${() => hide(a, t, false)}>${t} (${n})</button> `)}</span>` : nothing}
  </p>`;
}

function controlsView(v, a) {
  const act = v.act;
  return html`<div class="row controls">
    ${a.state !== 'open' ? html`<button type="button" @click=${() => act.open(a)}>${a.state === 'draft' ? 'Open' : 'Reopen'}</button>` : html`<button type="button" @click=${() => act.close(a)}>Close</button>`}
    ${a.state !== 'draft' ? html`<button type="button" @click=${() => act.reveal(a, !a.results_shown)}>${a.results_shown ? 'Hide results' : 'Show results'}</button>` : nothing}
    <a href=${`/present/${v.eventId}?activity=${a.id}${a.group_id ? `&group=${a.group_id}` : ''}`} target="_blank" rel="noopener">Present</a>
    <a href=${`/api/activities/${a.id}/export?format=csv`} download>CSV</a>
    <a href=${`/api/activities/${a.id}/export?format=json`} download>JSON</a>
    <button type="button" class="link" @click=${() => act.copy(a)}>Copy to event…</button>
    <button type="button" class="link danger" @click=${() => act.remove(a)}>Delete</button>
  </div>`;
}

// Quiz scores: everyone's to trainers, one's own to a participant (revealed quizzes only).
export function scoresView(scores) {
  if (!scores || !scores.scores.length) return nothing;
  if (!scores.all) {
    const s = scores.scores[0];
    return html`<p class="card quiz-score" role="status">Your quiz score: <strong>${s.correct}</strong> of ${s.answered}</p>`;
  }
  return html`<details class="card quiz-scores" open><summary>Quiz scores</summary>
    <table><thead><tr><th>Name</th><th>Correct</th><th>Answered</th></tr></thead>
    <tbody>${scores.scores.map((s) => html`<tr><td>${s.name}</td><td>${s.correct}</td><td>${s.answered}</td></tr>`)}</tbody></table></details>`;
}
