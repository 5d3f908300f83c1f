// Managing events: admins find every event (title search, past/current/future, paged) and
// create new ones; trainers and organisers see the events they run. One event's people and
// groups are in manage_event.js.
import { h, replace, field, fmtTime } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { navigate } from '../nav.js';

const PAGE = 20;
const STAFF = new Set(['trainer', 'organiser']);

export function whenOf(ev, now = Date.now()) {
  if (ev.status === 'cancelled') return 'cancelled';
  if (Date.parse(ev.ends_at) < now) return 'past';
  if (Date.parse(ev.starts_at) <= now) return 'now';
  return 'upcoming';
}

function eventCard(ev) {
  const state = whenOf(ev);
  return h('li', { class: `card event ${state}` },
    h('h2', {}, h('a', { href: `/manage/${ev.id}` }, ev.title)),
    h('p', {}, `${fmtTime(ev.starts_at)} – ${fmtTime(ev.ends_at)}`, ev.location ? ` · ${ev.location}` : ''),
    h('p', { class: 'tags' },
      h('span', { class: `tag ${state}` }, state),
      ev.my_role ? h('span', { class: 'tag' }, `you: ${ev.my_role}`) : null,
      ev.enrolled !== undefined ? h('span', { class: 'tag' }, `${ev.enrolled} enrolled`) : null),
    h('p', { class: 'row' },
      h('a', { href: `/manage/${ev.id}` }, 'People and groups'),
      h('a', { href: `/events/${ev.id}` }, 'Open the room')));
}

// Admins: the search form and a paged list of every event.
async function adminList(main, query) {
  const q = h('input', { name: 'q', type: 'search', value: query.get('q') || '', maxlength: 200, placeholder: 'Part of the title' });
  const when = h('select', { name: 'when' },
    [['', 'Any time'], ['current', 'Running now'], ['future', 'Upcoming'], ['past', 'Past']]
      .map(([v, l]) => h('option', { value: v, selected: v === (query.get('when') || '') }, l)));
  const form = h('form', { class: 'card filters', role: 'search', 'aria-label': 'Find events' },
    field('Title', q), field('When', when),
    h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, 'Find')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const params = new URLSearchParams();
    if (q.value.trim()) params.set('q', q.value.trim());
    if (when.value) params.set('when', when.value);
    navigate(`/manage${params.toString() ? `?${params}` : ''}`, { replace: true });
  });
  const count = h('p', { class: 'muted', role: 'status' });
  const list = h('ul', { class: 'cards', 'aria-label': 'Events' });
  const more = h('button', { type: 'button', hidden: true }, 'Show more');
  const error = h('p', { class: 'error', role: 'alert' });
  main.append(form, count, error, list, h('p', {}, more));
  let offset = 0;
  async function page() {
    more.disabled = true;
    try {
      const r = await api.get('/api/admin/events', { q: q.value.trim(), when: when.value, offset, limit: PAGE });
      for (const ev of r.items) list.append(eventCard(ev));
      offset += r.items.length;
      count.textContent = r.total ? `${r.total} event${r.total === 1 ? '' : 's'} found` : 'No event matches.';
      more.hidden = offset >= r.total;
    } catch (err) {
      error.textContent = `Could not load the events: ${err.message}`;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', page);
  await page();
}

// Trainers and organisers: the events they run (their own list, with their role).
async function staffList(main) {
  let events = [];
  try {
    events = ((await api.get('/api/events')).events || []).filter((ev) => STAFF.has(ev.my_role));
  } catch (err) {
    main.append(h('p', { class: 'error' }, `Could not load your events: ${err.message}`));
    return;
  }
  if (!events.length) {
    main.append(h('p', { class: 'muted' }, 'You train or organise no event. An admin creates events and enrols their staff.'));
    return;
  }
  main.append(h('ul', { class: 'cards', 'aria-label': 'Events' }, events.map(eventCard)));
}

function localValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function createForm(main) {
  main.append(h('h1', {}, 'New event'));
  const start = new Date(Date.now() + 86400000);
  start.setMinutes(0, 0, 0);
  const inputs = {
    title: h('input', { name: 'title', required: true, maxlength: 200 }),
    description: h('textarea', { name: 'description', rows: 3 }),
    starts_at: h('input', { name: 'starts_at', type: 'datetime-local', required: true, value: localValue(start) }),
    ends_at: h('input', { name: 'ends_at', type: 'datetime-local', required: true, value: localValue(new Date(start.getTime() + 3 * 3600000)) }),
    location: h('input', { name: 'location', maxlength: 200 }),
    retention_days: h('input', { name: 'retention_days', type: 'number', min: 1, max: 36500, required: true, value: '365' }),
  };
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card manage-form manage-new' },
    field('Title', inputs.title), field('Description', inputs.description),
    field('Starts', inputs.starts_at), field('Ends', inputs.ends_at),
    field('Place', inputs.location, 'A room, an address or a video-call link'),
    field('Keep chat, notes and photos for (days after the end)', inputs.retention_days, 'After that, the maintenance job deletes them'),
    error,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create the event'), h('a', { href: '/manage' }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const starts = new Date(inputs.starts_at.value);
    const ends = new Date(inputs.ends_at.value);
    if (Number.isNaN(starts.getTime()) || Number.isNaN(ends.getTime())) {
      error.textContent = 'Give both a start and an end (date and time).';
      return;
    }
    if (ends <= starts) {
      error.textContent = 'The event must end after it starts.';
      return;
    }
    try {
      const created = await api.post('/api/events', {
        title: inputs.title.value, description: inputs.description.value,
        starts_at: starts.toISOString(), ends_at: ends.toISOString(), location: inputs.location.value,
        retention_days: Number(inputs.retention_days.value),
      });
      navigate(`/manage/${created.id}`);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  main.append(form);
  inputs.title.focus();
}

export async function render(main, params, query) {
  const admin = Boolean(session.me.is_admin);
  if (params.new) {
    if (!admin) {
      replace(main, h('h1', {}, 'New event'), h('p', { class: 'error' }, 'Only admins create events.'));
      return;
    }
    createForm(main);
    return;
  }
  main.append(h('header', { class: 'row manage-head' },
    h('h1', {}, admin ? 'All events' : 'Events I run'),
    admin ? h('a', { href: '/manage/new', class: 'button primary' }, 'New event') : null));
  if (admin) await adminList(main, query);
  else await staffList(main);
}
