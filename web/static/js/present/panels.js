// The presenter view's panels, one per kind of thing on the projector, in a small registry.
//
// A panel is { label, render(item) } for an activity kind the presenter follows itself
// (drawn from the activity's live state), or { label, mount(host, { eventId }) } for a
// feature that follows its own data (e.g. the top questions of a Q&A): mount draws into
// `host` and returns { dispose() }. The presenter picks the panel of the current activity's
// kind, or the one named by ?panel=<kind>. A feature adds its panel with registerPanel().
import { html } from '../../vendor/lit-html/lit-html.js';
import { resultsView } from '../activities/view.js';
import { mountTopQuestions } from '../qa/present.js';

const PANELS = new Map();

export function registerPanel(kind, panel) {
  PANELS.set(kind, panel);
}

export function panelFor(kind) {
  return PANELS.get(kind) || null;
}

export function panelKinds() {
  return [...PANELS.keys()];
}

function activityResults(a) {
  const r = a.results || {};
  // The projector is the room: hidden results stay hidden even on a trainer's screen.
  const hidden = !a.results_shown || (r.counts === undefined && r.terms === undefined);
  return html`${hidden
    ? html`<p class="present-waiting">${r.total || 0} answer${r.total === 1 ? '' : 's'} so far</p>`
    : html`${resultsView(a, { big: true })}<p class="present-total">${r.total || 0} answer${r.total === 1 ? '' : 's'}</p>`}`;
}

registerPanel('poll', { label: 'Poll', render: activityResults });
registerPanel('wordcloud', { label: 'Word cloud', render: activityResults });
// The event's Q&A on the projector beside the join link and QR code: /present/<event>?panel=qa.
registerPanel('qa', { label: 'Top questions', mount: (host, { eventId }) => mountTopQuestions(host, { eventId }) });
