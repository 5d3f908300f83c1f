// The presenter view /present/<event>: full screen, large type, for a projector. It shows the
// current activity's live results (the one opened last, or ?activity=<id>; a learning group's
// with ?group=<id>) through the panel
// registered for its kind (present/panels.js), with the join link and its QR code.
import { html, render as paint, nothing } from '../../vendor/lit-html/lit-html.js';
import { h } from '../dom.js';
import * as api from '../api.js';
import { followActivities } from '../activities.js';
import { panelFor } from '../present/panels.js';

const STATE_LINE = { open: 'Answer now', closed: 'Closed' };

export async function render(main, params, query) {
  const eventId = Number(params.id);
  const pinned = Number(query.get('activity')) || null;
  const groupId = Number(query.get('group')) || null;
  const event = await api.get(`/api/events/${eventId}`);
  document.body.classList.add('presenting');
  const root = h('section', { class: 'present', 'aria-label': 'Presenter view' });
  main.append(root);
  const joinUrl = `${location.origin}/events/${eventId}/activities`;
  let mounted = null;
  const named = query.get('panel');
  const own = named && panelFor(named) && panelFor(named).mount ? panelFor(named) : null;

  const body = (a) => {
    if (own) return html`<div class="present-own"></div>`;
    if (!a) return html`<p class="present-waiting">Waiting for the trainer to open an activity…</p>`;
    const panel = panelFor(a.kind);
    return html`
      <p class="present-state" data-state=${a.state}>${STATE_LINE[a.state] || ''}</p>
      <h1 class="present-title">${a.title}</h1>
      <div class="present-panel" data-kind=${a.kind}>${panel && panel.render ? panel.render(a) : nothing}</div>`;
  };
  const frame = (a) => html`
    <header class="present-head"><span>${event.title}</span>
      <button type="button" class="link" @click=${() => document.documentElement.requestFullscreen().catch(() => {})}>Full screen</button></header>
    <div class="present-main">${body(a)}</div>
    <footer class="present-join">
      <img class="qr" src=${`/api/events/${eventId}/join-qr.svg`} alt="QR code of the join link" width="180" height="180">
      <div><p>Join at</p><p class="join-url">${joinUrl}</p><p>Event code <strong class="join-code">${eventId}</strong></p></div>
    </footer>`;

  let follow = null;
  const draw = () => {
    const current = follow ? (pinned ? follow.state.items.get(pinned) : follow.state.current()) : null;
    paint(frame(current), root);
    if (own && !mounted) mounted = own.mount(root.querySelector('.present-own'), { eventId });
  };
  follow = await followActivities(eventId, { groupId, changed: () => draw() });
  draw();
  return () => {
    document.body.classList.remove('presenting');
    if (mounted) mounted.dispose();
    follow.dispose();
  };
}
