import { h, fmtTime } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';

function when(ev) {
  const now = Date.now();
  const start = Date.parse(ev.starts_at);
  const end = Date.parse(ev.ends_at);
  if (ev.status === 'cancelled') return 'cancelled';
  if (end < now) return 'past';
  if (start <= now) return 'now';
  return 'upcoming';
}

export async function render(main) {
  main.append(h('h1', {}, 'My events'));
  const list = h('ul', { class: 'cards', 'aria-label': 'My events' });
  let events = [];
  try {
    const { data, stale } = await api.cachedGet('/api/events');
    events = data.events || [];
    if (stale) main.append(h('p', { class: 'muted' }, 'Offline: showing the list as last seen.'));
  } catch (err) {
    main.append(h('p', { class: 'error' }, `Could not load your events: ${err.message}`));
    return;
  }
  if (!events.length) {
    main.append(h('p', { class: 'muted' }, 'You are not enrolled in any event yet.'));
    // Admins run events without being enrolled: the way to find and create them.
    if (session.me && session.me.is_admin) main.append(h('p', {}, h('a', { href: '/manage' }, 'Find any event or create one')));
    return;
  }
  const order = { now: 0, upcoming: 1, past: 2, cancelled: 3 };
  events.sort((a, b) => order[when(a)] - order[when(b)] || Date.parse(a.starts_at) - Date.parse(b.starts_at));
  for (const ev of events) {
    const state = when(ev);
    list.append(h('li', { class: `card event ${state}` },
      h('h2', {}, h('a', { href: `/events/${ev.id}` }, ev.title)),
      h('p', {}, fmtTime(ev.starts_at), ev.location ? ` · ${ev.location}` : ''),
      h('p', { class: 'tags' },
        h('span', { class: `tag ${state}` }, state),
        ev.my_role ? h('span', { class: 'tag' }, ev.my_role) : null,
        ev.status && ev.status !== 'scheduled' && ev.status !== state ? h('span', { class: `tag ${ev.status}` }, ev.status) : null),
      ev.my_role === 'trainer' || ev.my_role === 'organiser' ? h('p', {}, h('a', { href: `/manage/${ev.id}` }, 'People and groups')) : null));
  }
  main.append(list);
}
