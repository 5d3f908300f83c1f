// One event's people: who is enrolled and in what role, enrolling one by one, from a CSV
// file or by invitation, ending enrolments; its learning groups are in manage_groups.js.
// What a person is offered follows the API's rules (storage/authz.py): admins and the
// event's organisers enrol and change roles; trainers invite participants and manage groups.
import { h, replace, field, fmtTime, ask, toast } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { navigate } from '../nav.js';
import { atLeast } from './room.js';
import { groupsSection } from './manage_groups.js';

const ROLES = [['participant', 'Participant'], ['trainer', 'Trainer'], ['organiser', 'Organiser']];

function roleSelect(value, attrs = {}) {
  return h('select', { name: 'role', ...attrs }, ROLES.map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
}

// Set-password links the API handed to an admin: shown once, to be passed on.
function linksBox() {
  const list = h('ul', { class: 'manage-links', 'aria-label': 'Set-password links' });
  const box = h('section', { class: 'card', hidden: true },
    h('h2', {}, 'Set-password links'),
    h('p', { class: 'muted' }, 'New accounts have no password yet. Pass each person their link (it works once and expires); with it they set a password and sign in.'),
    list);
  function add(reg) {
    if (!reg.invite_url) return;
    const input = h('input', { readonly: true, value: reg.invite_url, 'aria-label': `Link for ${reg.display_name}` });
    const copy = h('button', { type: 'button' }, 'Copy');
    copy.addEventListener('click', async () => {
      try { await navigator.clipboard.writeText(reg.invite_url); toast('Copied'); } catch { input.select(); }
    });
    list.append(h('li', { dataset: { email: reg.email } }, h('span', {}, `${reg.display_name} (${reg.email})`), h('span', { class: 'row' }, input, copy)));
    box.hidden = false;
  }
  return { box, add };
}

function describe(reg) {
  if (reg.offered) return `${reg.email}: an offer to join was mailed; they appear here once they accept.`;
  if (reg.enrolled) return `${reg.display_name} (${reg.email}) is enrolled${reg.created ? ' (new account)' : ''}.`;
  return `${reg.display_name} (${reg.email}) was enrolled already in that role.`;
}

function enrolOneForm(event, links, refresh) {
  const email = h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'display_name', maxlength: 120, autocomplete: 'off' });
  const role = roleSelect('participant');
  const status = h('p', { role: 'status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card manage-form', 'aria-label': 'Enrol one person' },
    h('h2', {}, 'Enrol one person'),
    field('Email', email), field('Name', name, 'Needed for a new account'), field('Role', role),
    error, status,
    h('button', { type: 'submit', class: 'primary' }, 'Enrol'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    status.textContent = '';
    const body = { email: email.value.trim(), role: role.value };
    if (name.value.trim()) body.display_name = name.value.trim();
    try {
      const reg = await api.post(`/api/events/${event.id}/enrolments`, body);
      status.textContent = describe(reg);
      links.add(reg);
      form.reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

function csvForm(event, links, refresh) {
  const file = h('input', { name: 'file', type: 'file', accept: '.csv,text/csv', required: true });
  const result = h('div', { role: 'status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card manage-form', 'aria-label': 'Enrol from a CSV file' },
    h('h2', {}, 'Enrol from a CSV file'),
    field('CSV file', file, 'A header line, then one person a line: email,display_name,role (role: participant, trainer or organiser; participant if left out)'),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Upload and enrol'),
    result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    replace(result);
    if (!file.files.length) { error.textContent = 'Choose a CSV file first.'; return; }
    const data = new FormData();
    data.append('file', file.files[0]);
    try {
      const r = await api.request('POST', `/api/events/${event.id}/enrolments/csv`, { form: data });
      const done = r.enrolled.filter((reg) => reg.enrolled).length;
      const offered = r.enrolled.filter((reg) => reg.offered).length;
      result.append(h('p', { class: 'csv-summary' },
        `${done} enrolled`, offered ? `, ${offered} offered by mail` : '',
        r.errors.length ? `, ${r.errors.length} line${r.errors.length === 1 ? '' : 's'} not used` : '', '.'));
      if (r.errors.length) {
        result.append(h('p', { class: 'error' }, 'Fix these lines and upload them again (the good lines are enrolled already):'),
          h('ul', { class: 'csv-errors', 'aria-label': 'Lines not used' },
            r.errors.map((e) => h('li', {}, h('strong', {}, `Line ${e.line}: `), e.error))));
      }
      for (const reg of r.enrolled) links.add(reg);
      file.value = '';
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

// Trainers register participants with the invitation API (an account and a mailed link).
function inviteForm(event, links, refresh) {
  const email = h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'display_name', required: true, maxlength: 120, autocomplete: 'off' });
  const status = h('p', { role: 'status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card manage-form', 'aria-label': 'Invite a participant' },
    h('h2', {}, 'Invite a participant'),
    field('Email', email), field('Name', name),
    error, status,
    h('button', { type: 'submit', class: 'primary' }, 'Invite'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      const reg = await api.post('/api/invitations', { email: email.value.trim(), display_name: name.value.trim(), event_id: event.id });
      status.textContent = describe(reg);
      links.add(reg);
      form.reset();
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

function memberRow(event, m, mayEnrol, refresh) {
  const isMe = m.user_id === session.me.id;
  const canChange = mayEnrol && m.email && (session.me.is_admin || !isMe);
  const parts = [
    h('span', { class: 'who' }, h('strong', {}, m.display_name), isMe ? ' (you)' : '', m.email ? h('span', { class: 'muted email' }, m.email) : null),
  ];
  if (!canChange) {
    parts.push(h('span', { class: 'tag' }, m.role));
    return h('li', { dataset: { userId: m.user_id } }, parts);
  }
  const role = roleSelect(m.role, { 'aria-label': `Role of ${m.display_name}` });
  role.addEventListener('change', async () => {
    try {
      await api.post(`/api/events/${event.id}/enrolments`, { email: m.email, display_name: m.display_name, role: role.value });
      toast(`${m.display_name} is now ${role.value}`);
      await refresh();
    } catch (err) {
      toast(err.message, 'error');
      role.value = m.role;
    }
  });
  const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${m.display_name}` }, 'Remove');
  remove.addEventListener('click', async () => {
    const sure = await ask(`Remove ${m.display_name} from “${event.title}”? They leave its groups too.`, [], 'Remove');
    if (!sure) return;
    try {
      await api.del(`/api/events/${event.id}/enrolments/${m.user_id}`);
      toast(`${m.display_name} is no longer enrolled`);
      await refresh();
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  parts.push(h('span', { class: 'row' }, role, remove));
  return h('li', { dataset: { userId: m.user_id } }, parts);
}

function peopleList(event, members, mayEnrol, refresh) {
  const counts = {};
  for (const m of members) counts[m.role] = (counts[m.role] || 0) + 1;
  const summary = ROLES.filter(([v]) => counts[v]).map(([v, l]) => `${counts[v]} ${l.toLowerCase()}${counts[v] === 1 ? '' : 's'}`).join(', ');
  return h('section', { class: 'card' },
    h('h2', {}, `Enrolled (${members.length})`),
    summary ? h('p', { class: 'muted' }, summary) : h('p', { class: 'muted' }, 'Nobody is enrolled yet.'),
    h('ul', { class: 'manage-people', 'aria-label': 'Enrolled people' }, members.map((m) => memberRow(event, m, mayEnrol, refresh))));
}

function head(event) {
  const role = event.my_role;
  const links = [h('a', { href: `/events/${event.id}` }, 'Open the room')];
  if (atLeast(role, 'organiser') && event.status !== 'cancelled') {
    links.push(h('a', { href: `/events/${event.id}/organiser/edit` }, 'Change time, place or description, or cancel'));
  }
  return h('header', { class: 'room-head' },
    h('p', {}, h('a', { href: '/manage' }, '← Events')),
    h('h1', {}, event.title),
    h('p', { class: 'muted' }, `${fmtTime(event.starts_at)} – ${fmtTime(event.ends_at)}`, event.location ? ` · ${event.location}` : '',
      event.status && event.status !== 'scheduled' ? h('span', { class: `tag ${event.status}` }, ` ${event.status}`) : null),
    event.description ? h('p', { class: 'description' }, event.description) : null,
    h('p', { class: 'muted' }, role ? `Your role: ${role}.` : 'You are not enrolled (admin).',
      !atLeast(role, 'organiser') ? ' Only the event’s organisers change its time, place or description: enrol yourself as organiser to do so.' : ''),
    h('p', { class: 'row' }, links));
}

export async function render(main, params) {
  const id = Number(params.id);
  let event;
  try {
    event = await api.get(`/api/events/${id}`);
  } catch (err) {
    const why = { 403: 'You take no part in this event: only its trainers and organisers, and admins, manage it.', 404: 'There is no such event.' }[err.status];
    main.append(h('h1', {}, 'Manage an event'), h('p', { class: 'error' }, why || err.message), h('p', {}, h('a', { href: '/manage' }, '← Events')));
    return;
  }
  const admin = Boolean(session.me.is_admin);
  const mayEnrol = admin || atLeast(event.my_role, 'organiser');
  const mayGroups = admin || atLeast(event.my_role, 'trainer');
  const headBox = h('div', {}, head(event));
  main.append(headBox);
  if (!mayGroups) {
    main.append(h('p', { class: 'error' }, 'Only the event’s trainers and organisers, and admins, manage its people and groups.'));
    return;
  }
  const links = linksBox();
  const people = h('div', {});
  const groups = h('div', {});
  async function refresh() {
    const members = (await api.get(`/api/events/${id}/members`)).members || [];
    const mine = members.find((m) => m.user_id === session.me.id);
    if ((mine ? mine.role : null) !== (event.my_role || null)) {
      // My own role changed. An admin may still do everything here (and keeps the links
      // collected so far): only the header changes. Anyone else may now do less: draw again.
      if (!admin) { navigate(location.pathname, { replace: true }); return; }
      event = await api.get(`/api/events/${id}`);
      replace(headBox, head(event));
    }
    replace(people, peopleList(event, members, mayEnrol, refresh));
    replace(groups, await groupsSection(event, members, refresh));
  }
  const forms = h('div', { class: 'manage-forms' });
  if (mayEnrol) forms.append(enrolOneForm(event, links, refresh), csvForm(event, links, refresh));
  else forms.append(inviteForm(event, links, refresh));
  main.append(h('div', { class: 'manage-grid' }, h('div', {}, people, links.box), h('div', {}, forms)), groups);
  await refresh();
}
