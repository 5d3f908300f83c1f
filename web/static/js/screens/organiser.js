// Organisers (and trainers for mail): edit or cancel the event, compose mail with a
// recipient preview, campaign progress and per-recipient status, "who has it".
import { h, replace, field, toast, fmtTime, ask } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { loadEvent, eventHeader, roomTabs, atLeast } from './room.js';

const SUBS = [['mail', 'Compose mail'], ['campaigns', 'Sent mail'], ['edit', 'Edit or cancel'], ['changes', 'Changes: who has it']];

function localInput(iso) {
  // <input type=datetime-local> wants local time without a zone.
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function editTab(box, event) {
  if (!atLeast(event.my_role, 'organiser')) {
    box.append(h('p', { class: 'muted' }, 'Only organisers of the event change or cancel it.'));
    return;
  }
  if (event.status === 'cancelled') {
    box.append(h('p', { class: 'error' }, 'This event is cancelled; it cannot change any more.'));
    return;
  }
  const starts = h('input', { type: 'datetime-local', name: 'starts_at', value: localInput(event.starts_at) });
  const ends = h('input', { type: 'datetime-local', name: 'ends_at', value: localInput(event.ends_at) });
  const location = h('input', { name: 'location', value: event.location || '', maxlength: 200 });
  const description = h('textarea', { name: 'description', rows: 4 });
  description.value = event.description || '';
  const note = h('textarea', { name: 'note', rows: 2, maxlength: 2000 });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card' },
    h('h2', {}, 'Change the event'),
    field('Starts', starts), field('Ends', ends), field('Place', location), field('Description', description),
    field('Note for everyone (banner and mail)', note),
    error,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save and tell everyone')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    if (!starts.value || !ends.value) {
      error.textContent = 'Give both a start and an end (date and time).';
      return;
    }
    const body = { note: note.value };
    // The fields show whole minutes: compare what the organiser sees, or an event
    // starting at 09:00:30 would "change" to 09:00 with every edit of its place.
    if (starts.value !== localInput(event.starts_at)) body.starts_at = new Date(starts.value).toISOString();
    if (ends.value !== localInput(event.ends_at)) body.ends_at = new Date(ends.value).toISOString();
    if (location.value !== (event.location || '')) body.location = location.value;
    if (description.value !== (event.description || '')) body.description = description.value;
    try {
      await api.post(`/api/events/${event.id}/changes`, body);
      toast('Saved: everyone enrolled is told live and by mail');
      history.pushState(null, '', `/events/${event.id}/organiser/changes`);
      dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      error.textContent = err.message;
    }
  });
  const cancelNote = h('textarea', { name: 'cancel-note', rows: 2, maxlength: 2000 });
  const cancelForm = h('form', { class: 'card' },
    h('h2', {}, 'Cancel the event'),
    field('Message to everyone', cancelNote),
    h('button', { type: 'submit', class: 'danger' }, 'Cancel the event'));
  cancelForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const sure = await ask(`Cancel “${event.title}” for everyone?`, [], 'Yes, cancel it');
    if (!sure) return;
    try {
      await api.post(`/api/events/${event.id}/changes`, { cancel: true, note: cancelNote.value });
      toast('Cancelled: everyone enrolled is told live and by mail');
      history.pushState(null, '', `/events/${event.id}/organiser/changes`);
      dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  box.append(form, cancelForm);
}

async function mailTab(box, event) {
  const subject = h('input', { name: 'subject', required: true, maxlength: 300 });
  const body = h('textarea', { name: 'body', rows: 8, required: true });
  const markdown = h('input', { type: 'checkbox', name: 'markdown', id: 'mail-markdown' });
  const category = h('select', { name: 'category' }, h('option', { value: 'information' }, 'Information (people may unsubscribe)'), h('option', { value: 'service' }, 'Service (always delivered)'));
  const kind = h('select', { name: 'audience' },
    h('option', { value: 'event' }, 'Everyone in this event'),
    h('option', { value: 'group' }, 'A learning group'),
    h('option', { value: 'my_events' }, 'The events I run'));
  const group = h('select', { name: 'group' });
  const when = h('select', { name: 'when' }, ['all', 'past', 'current', 'future'].map((w) => h('option', { value: w }, w)));
  const roles = ['participant', 'trainer', 'organiser'].map((r) => h('input', { type: 'checkbox', name: 'role', value: r, id: `role-${r}` }));
  const sendAt = h('input', { type: 'datetime-local', name: 'send_at' });
  const preview = h('div', { class: 'card preview', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Choose the audience and press Preview.'));
  const error = h('p', { class: 'error', role: 'alert' });
  try {
    const groups = (await api.get(`/api/events/${event.id}/groups`)).groups || [];
    replace(group, groups.map((g) => h('option', { value: String(g.id) }, g.name)));
  } catch { /* no groups */ }

  function audience() {
    const a = { kind: kind.value, when: when.value, roles: roles.filter((r) => r.checked).map((r) => r.value) };
    if (kind.value === 'event') a.event_id = event.id;
    if (kind.value === 'group') a.group_id = Number(group.value);
    return a;
  }

  async function showPreview() {
    error.textContent = '';
    try {
      const p = await api.post('/api/mail/preview', { audience: audience(), category: category.value });
      replace(preview,
        h('p', {}, h('strong', { class: 'recipient-count' }, `${p.will_send} recipients`),
          p.suppressed ? ` (${p.count} in the audience, ${p.suppressed} unsubscribed from information mail)` : ''),
        h('ul', { 'aria-label': 'Sample of recipients' }, p.sample.map((r) => h('li', {}, r.display_name, r.email ? ` <${r.email}>` : ''))),
        p.count > p.sample.length ? h('p', { class: 'muted' }, `… and ${p.count - p.sample.length} more`) : null);
      return p;
    } catch (err) {
      error.textContent = err.message;
      return null;
    }
  }

  // Each audience uses only its own fields: a group for "A learning group", past / current /
  // future for "The events I run". The others stay hidden, so none seems to narrow the audience.
  const groupField = field('Group', group);
  const whenField = field('Events (for “the events I run”)', when);
  const showAudienceFields = () => {
    groupField.hidden = kind.value !== 'group';
    whenField.hidden = kind.value !== 'my_events';
  };
  kind.addEventListener('change', showAudienceFields);
  showAudienceFields();

  const form = h('form', { class: 'card' },
    h('h2', {}, 'Compose a mail'),
    field('Subject', subject),
    field('Message (plain text)', body),
    h('div', { class: 'row' }, markdown, h('label', { for: 'mail-markdown' }, 'Format with Markdown (adds an HTML version)')),
    field('Category', category),
    h('fieldset', {}, h('legend', {}, 'Audience'),
      field('Who', kind), groupField, whenField,
      h('div', { class: 'row' }, h('span', {}, 'Only roles:'), roles.map((r) => [r, h('label', { for: r.id }, r.value)]))),
    field('Send at (empty: now)', sendAt),
    error,
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: showPreview }, 'Preview recipients'),
      h('button', { type: 'submit', class: 'primary' }, 'Send')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const p = await showPreview();
    if (!p) return;
    const ok = await ask(`Send “${subject.value}” to ${p.will_send} people?`, [], 'Send');
    if (!ok) return;
    try {
      const payload = { subject: subject.value, body: body.value, markdown: markdown.checked, category: category.value, audience: audience() };
      if (sendAt.value) payload.send_at = new Date(sendAt.value).toISOString();
      const c = await api.post('/api/mail/campaigns', payload);
      toast(`Queued for ${c.total} recipients`);
      history.pushState(null, '', `/events/${event.id}/organiser/campaigns?campaign=${c.id}`);
      dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      error.textContent = err.message;
    }
  });
  box.append(form, h('h2', {}, 'Preview'), preview);
}

function progressBar(c) {
  const counts = c.counts || {};
  const finished = c.total - (counts.queued || 0);
  return h('div', { class: 'campaign-progress' },
    h('progress', { max: String(Math.max(1, c.total)), value: String(finished), 'aria-label': `Progress of “${c.subject}”` }),
    h('p', { class: 'muted' }, `${finished} of ${c.total} done · `,
      ['sent', 'queued', 'failed', 'bounced', 'suppressed'].map((s) => h('span', { class: `status-${s}` }, `${s} ${counts[s] || 0} `)),
      c.done ? '· finished' : ''));
}

async function campaignsTab(box, event, query, disposers) {
  let data;
  try {
    data = await api.get('/api/mail/campaigns');
  } catch (err) {
    box.append(h('p', { class: 'error' }, err.message));
    return;
  }
  const campaigns = data.campaigns.filter((c) => !c.event_ids.length || c.event_ids.includes(event.id));
  const current = Number(query.get('campaign')) || (campaigns[0] && campaigns[0].id);
  const list = h('ul', { class: 'tags', 'aria-label': 'Campaigns' }, campaigns.map((c) => h('li', {},
    h('a', { class: 'tag', href: `/events/${event.id}/organiser/campaigns?campaign=${c.id}`, 'aria-current': c.id === current ? 'page' : null }, `${c.subject} (${fmtTime(c.created_at)})`))));
  box.append(h('h2', {}, 'Sent mail'), campaigns.length ? list : h('p', { class: 'muted' }, 'No mail sent yet.'));
  if (!current) return;
  const detail = h('section', { class: 'card' });
  box.append(detail);

  async function load() {
    try {
      const [c, d] = await Promise.all([
        api.get(`/api/mail/campaigns/${current}`),
        api.get(`/api/mail/campaigns/${current}/deliveries`, { limit: 500 }),
      ]);
      const failed = (c.counts.failed || 0) > 0;
      replace(detail,
        h('h2', {}, c.subject),
        progressBar(c),
        failed ? h('button', { type: 'button', onclick: async () => {
          try { const r = await api.post(`/api/mail/campaigns/${current}/retry-failed`); toast(`${r.requeued} queued again`); load(); } catch (err) { toast(err.message, 'error'); }
        } }, 'Retry failed') : null,
        h('div', { class: 'table-wrap' }, h('table', {},
          h('thead', {}, h('tr', {}, ['Recipient', 'Email', 'Status', 'Attempts', 'Last error', 'Sent'].map((t) => h('th', {}, t)))),
          h('tbody', {}, d.deliveries.map((r) => h('tr', {},
            h('td', {}, r.display_name), h('td', {}, r.email || '—'), h('td', { class: `status-${r.status}` }, r.status),
            h('td', {}, String(r.attempts)), h('td', {}, r.last_error || ''), h('td', {}, r.sent_at ? fmtTime(r.sent_at) : '')))))));
    } catch (err) {
      replace(detail, h('p', { class: 'error' }, err.message));
    }
  }
  await load();
  // Live progress: the mailer pushes mail_progress events to my personal channel.
  let timer = null;
  const onPersonal = (ev) => {
    const e = ev.detail;
    if (e.type === 'mail_progress' && e.body && e.body.campaign_id === current) {
      const bar = detail.querySelector('.campaign-progress');
      if (bar) bar.replaceWith(progressBar({ ...e.body, subject: detail.querySelector('h2').textContent, counts: e.body }));
      clearTimeout(timer);
      timer = setTimeout(load, 500);
    }
  };
  document.addEventListener('classhub:personal', onPersonal);
  disposers.push(() => { document.removeEventListener('classhub:personal', onPersonal); clearTimeout(timer); });
}

async function changesTab(box, event, query) {
  let changes = [];
  try {
    changes = (await api.get(`/api/events/${event.id}/changes`)).changes;
  } catch (err) {
    box.append(h('p', { class: 'error' }, err.message));
    return;
  }
  box.append(h('h2', {}, 'Changes to this event'));
  if (!changes.length) { box.append(h('p', { class: 'muted' }, 'No changes yet.')); return; }
  const current = Number(query.get('change')) || changes[0].id;
  box.append(h('ul', { class: 'tags' }, changes.map((c) => h('li', {},
    h('a', { class: 'tag', href: `/events/${event.id}/organiser/changes?change=${c.id}`, 'aria-current': c.id === current ? 'page' : null }, `${c.kind} · ${fmtTime(c.created_at)}`)))));
  try {
    const r = await api.get(`/api/events/${event.id}/changes/${current}/reach`);
    box.append(h('section', { class: 'card who-has-it' },
      h('h2', {}, 'Who has it'),
      h('p', {}, `Seen live: ${r.summary.seen} · mailed: ${r.summary.mailed} · neither yet: ${r.summary.neither}`),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Person', 'Role', 'State', 'Seen', 'Mail', 'Error'].map((t) => h('th', {}, t)))),
        h('tbody', {}, r.people.map((p) => h('tr', {},
          h('td', {}, p.display_name), h('td', {}, p.role), h('td', {}, p.state),
          h('td', {}, p.seen_at ? `${fmtTime(p.seen_at)} (${p.seen_via})` : '—'),
          h('td', { class: `status-${p.mail_status}` }, p.mail_status || '—'), h('td', {}, p.mail_error || ''))))))));
  } catch (err) {
    box.append(h('p', { class: 'error' }, err.message));
  }
}

export async function render(main, params, query) {
  const id = Number(params.id);
  const sub = params.sub || 'mail';
  const { event, stale } = await loadEvent(id);
  main.append(eventHeader(event, stale), roomTabs(event, 'organiser'));
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Organiser sections' });
  for (const [key, label] of SUBS) nav.append(h('a', { href: `/events/${id}/organiser/${key}`, 'aria-current': key === sub ? 'page' : null }, label));
  nav.append(h('a', { href: `/manage/${id}` }, 'People and groups'));
  main.append(nav);
  const box = h('section', {});
  main.append(box);
  const disposers = [];
  if (!atLeast(event.my_role, 'trainer') && !session.me.is_admin) {
    box.append(h('p', { class: 'error' }, 'Only trainers and organisers of the event use these tools.'));
  } else if (sub === 'edit') editTab(box, event);
  else if (sub === 'mail') await mailTab(box, event);
  else if (sub === 'campaigns') await campaignsTab(box, event, query, disposers);
  else if (sub === 'changes') await changesTab(box, event, query);
  return () => { for (const d of disposers) d(); };
}
