// Admin: message-log search (DMs need a stated reason), export, audit log, activity log, users,
// and the server API's keys and webhooks (screens/admin_api.js).
import { h, replace, field, ask, toast, fmtTime, showInfo } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { authorOf, personOf, logLine, fields } from '../logtext.js';

const TABS = [['messages', 'Message log'], ['audit', 'Audit log'], ['activity', 'Activity log'], ['users', 'Users'], ['api', 'Server API']];

function tabs(current) {
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Admin sections' });
  for (const [key, label] of TABS) {
    if (!session.me.is_admin && key !== 'audit') continue; // the DPO reads the audit log only
    nav.append(h('a', { href: `/admin/${key}`, 'aria-current': key === current ? 'page' : null }, label));
  }
  return nav;
}

// A filter form whose fields map 1:1 to query parameters.
function filterForm(fields, submitLabel, onSubmit) {
  const inputs = {};
  const form = h('form', { class: 'card filters', role: 'search' });
  for (const f of fields) {
    let input;
    if (f.type === 'checkbox') {
      input = h('input', { type: 'checkbox', name: f.name });
      inputs[f.name] = input;
      form.append(h('div', { class: 'field row' }, input, h('label', { for: (input.id = `flt-${f.name}`) }, f.label)));
      continue;
    }
    if (f.type === 'select') {
      input = h('select', { name: f.name }, f.options.map(([v, l]) => h('option', { value: v }, l)));
    } else {
      input = h('input', { name: f.name, type: f.type || 'text', inputmode: f.numeric ? 'numeric' : null });
    }
    inputs[f.name] = input;
    form.append(field(f.label, input));
  }
  form.append(h('div', { class: 'field' }, h('button', { type: 'submit', class: 'primary' }, submitLabel)));
  const values = () => {
    const out = {};
    for (const [k, input] of Object.entries(inputs)) {
      if (input.type === 'checkbox') { if (input.checked) out[k] = 'true'; continue; }
      let v = input.value.trim();
      if (!v) continue;
      if (input.type === 'datetime-local') v = new Date(v).toISOString();
      out[k] = v;
    }
    return out;
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); onSubmit(values()); });
  return { form, inputs, values };
}

// Short identifiers read best whole (a cell may otherwise break "message" into "mess age");
// free text may break a long unbroken run anywhere; everything else breaks between words.
const TOKENS = new Set(['channel', 'type', 'action']);
const LONG = new Set(['text', 'reason', 'detail', 'target']);
const cellClass = (key) => (TOKENS.has(key) ? 'token' : LONG.has(key) ? 'long' : null);

function table(columns, rows, empty = 'Nothing found.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map(([, label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([key, , fmt]) => h('td', { class: cellClass(key) }, fmt ? fmt(row[key], row) : (row[key] ?? ''))))))));
}

const readsDms = (q) => q.include_dms === 'true' || (q.channel || '').startsWith('dm:');

async function askReason(what) {
  const v = await ask(`Reason for reading direct messages`, [
    { name: 'reason', label: `Why do you need to read ${what}? (written to the audit log)`, type: 'textarea', required: true },
  ], 'Continue');
  return v && v.reason.trim() ? v.reason.trim() : null;
}

function exportLink(path, query, format, label) {
  const params = new URLSearchParams({ ...query, format });
  params.delete('limit');
  params.delete('before_id');
  return h('a', { href: `${path}?${params}`, download: '' }, label);
}

async function messagesTab(box) {
  const results = h('div', { 'aria-live': 'polite' });
  let lastQuery = null;
  const { form, inputs } = filterForm([
    { name: 'q', label: 'Text (all words)' },
    { name: 'event_id', label: 'Event id', numeric: true },
    { name: 'channel', label: 'Channel (e.g. event:3:chat, dm:4:9)' },
    { name: 'author_id', label: 'Author id', numeric: true },
    { name: 'type', label: 'Type (message, note.published…)' },
    { name: 'since', label: 'From', type: 'datetime-local' },
    { name: 'until', label: 'Until', type: 'datetime-local' },
    { name: 'include_dms', label: 'Include direct messages', type: 'checkbox' },
    { name: 'reason', label: 'Reason (required for direct messages)' },
  ], 'Search', (q) => search(q));

  async function search(q, before) {
    const query = { ...q, limit: 50 };
    if (before) query.before_id = before;
    if (readsDms(query) && !query.reason) {
      const reason = await askReason('direct messages');
      if (!reason) return;
      query.reason = reason;
      inputs.reason.value = reason;
    }
    let page;
    try {
      page = await api.get('/api/admin/messages', query);
    } catch (err) {
      if (err.code === 'reason_required') {
        const reason = await askReason('these messages');
        if (reason) { inputs.reason.value = reason; search({ ...q, reason }, before); }
        return;
      }
      replace(results, h('p', { class: 'error' }, err.message));
      return;
    }
    lastQuery = { ...q, reason: query.reason };
    const rows = table([
      ['created_at', 'Time', fmtTime],
      ['channel', 'Channel'],
      ['author_name', 'Author', (v, r) => authorOf(r)],
      ['type', 'Type'],
      ['text', 'Text', (v, r) => logLine(r)],
      ['id', 'History', (v, r) => h('button', { type: 'button', 'aria-label': `Open event ${v}`, onclick: () => openOne(r) }, r.history && r.history.length ? `Open (${r.history.length})` : 'Open')],
    ], page.items);
    const more = page.next_before ? h('button', { type: 'button', onclick: () => search(q, page.next_before) }, 'Older results') : null;
    replace(results,
      h('div', { class: 'row' }, h('strong', {}, `${page.items.length} results`), h('span', { class: 'grow' }),
        exportLink('/api/admin/messages/export', lastQuery, 'csv', 'Export CSV'),
        exportLink('/api/admin/messages/export', lastQuery, 'jsonl', 'Export JSON Lines')),
      rows, more);
  }

  async function openOne(row) {
    let reason = '';
    if (row.channel.startsWith('dm:')) {
      reason = (lastQuery && lastQuery.reason) || await askReason('this direct message');
      if (!reason) return;
    }
    try {
      const one = await api.get(`/api/admin/messages/${row.id}`, reason ? { reason } : undefined);
      const lines = [`${one.channel} #${one.seq} · ${one.type} · ${authorOf(one)} · ${fmtTime(one.created_at)}`,
        `Text: ${logLine(one)}`]
        .concat((one.history || []).map((hst) => `${hst.type || ''} ${fmtTime(hst.created_at || hst.at)} · ${authorOf(hst)}: ${logLine(hst)}`));
      await showInfo(`Event ${one.id}`, lines);
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  box.append(h('h2', {}, 'Message log'), form, results);
}

async function logTab(box, { path, exportPath, fields, columns, title }) {
  const results = h('div', { 'aria-live': 'polite' });
  const { form } = filterForm(fields, 'Show', (q) => load(q));
  async function load(q, before) {
    const query = { ...q, limit: 100 };
    if (before) query.before_id = before;
    try {
      const page = await api.get(path, query);
      replace(results,
        exportPath ? h('div', { class: 'row end' }, exportLink(exportPath, q, 'csv', 'Export CSV'), exportLink(exportPath, q, 'jsonl', 'Export JSON Lines')) : null,
        table(columns, page.items),
        page.next_before ? h('button', { type: 'button', onclick: () => load(q, page.next_before) }, 'Older entries') : null);
    } catch (err) {
      replace(results, h('p', { class: 'error' }, err.message));
    }
  }
  box.append(h('h2', {}, title), form, results);
  await load({});
}

const STATUSES = [['', 'Any but deleted'], ['active', 'Active'], ['blocked', 'Blocked'], ['terminating', 'Terminating'], ['deleted', 'Deleted']];

// Users: find accounts by part of the name or email and by status, pick one, act on it.
async function usersTab(box) {
  const results = h('div', { 'aria-live': 'polite' });
  const panel = h('section', { class: 'card user-panel', 'aria-label': 'Chosen account', hidden: true });
  let query = {};
  let shown = [];

  const { form } = filterForm([
    { name: 'q', label: 'Name or email contains' },
    { name: 'status', label: 'Status', type: 'select', options: STATUSES },
  ], 'Find', (q) => find(q));

  async function find(q, after) {
    query = q;
    const params = { ...q, limit: 50 };
    if (after) params.after_id = after;
    let page;
    try {
      page = await api.get('/api/admin/users', params);
    } catch (err) {
      replace(results, h('p', { class: 'error' }, err.message));
      return;
    }
    shown = after ? shown.concat(page.items) : page.items;
    const more = page.next_after ? h('button', { type: 'button', onclick: () => find(q, page.next_after) }, 'More accounts') : null;
    replace(results,
      h('p', {}, h('strong', {}, `${shown.length} account${shown.length === 1 ? '' : 's'}`)),
      table([
        ['display_name', 'Name', (v, r) => h('button', { type: 'button', class: 'link', 'aria-label': `Choose ${v}`, onclick: () => choose(r) }, v)],
        ['email', 'Email', (v) => v || '—'],
        ['status', 'Status', (v) => h('span', { class: `status status-${v}` }, v)],
        ['is_admin', 'Role', (v, r) => [v ? 'admin' : '', r.is_dpo ? 'data-protection officer' : ''].filter(Boolean).join(', ')],
        ['created_at', 'Since', fmtTime],
      ], shown, 'No account matches.'),
      more);
  }

  // Fetch the account again (by its email, else its name) so the panel shows its state now.
  async function refresh(u) {
    try {
      const page = await api.get('/api/admin/users', { q: u.email || u.display_name, status: u.status === 'deleted' ? 'deleted' : undefined, limit: 200 });
      const fresh = page.items.find((x) => x.id === u.id);
      if (fresh) choose(fresh);
      else replace(panel, h('p', { class: 'muted' }, `${u.display_name} is no longer listed (deleted).`));
    } catch (err) {
      toast(err.message, 'error');
    }
    find(query);
  }

  async function run(label, path, body, u) {
    try {
      const out = await api.post(path, body);
      toast(`${label}: done`);
      return out;
    } catch (err) {
      toast(`${label}: ${err.message}`, 'error');
      return null;
    } finally {
      if (label !== 'Reset password') refresh(u);
    }
  }

  async function withReason(label, hint, minLength = 0) {
    const v = await ask(`${label}`, [{ name: 'reason', label: 'Reason (written to the audit log)', type: 'textarea', required: minLength > 0, hint }], label);
    if (!v) return null;
    const reason = v.reason.trim();
    if (reason.length < minLength) { toast(`Give a reason of at least ${minLength} characters.`, 'error'); return null; }
    return reason;
  }

  function choose(u) {
    panel.hidden = false;
    const linkBox = h('div', { 'aria-live': 'polite' });
    const b = (label, onclick, cls = '') => h('button', { type: 'button', class: cls, onclick }, label);
    const buttons = [];
    const active = u.status === 'active';
    const blocked = u.status === 'blocked';
    if (u.id === session.me.id) {
      buttons.push(h('p', { class: 'muted' }, 'This is your own account: manage it under Me.'));
    } else {
      if (active) buttons.push(b('Block', async () => {
        const reason = await withReason('Block', 'Sessions end and live connections close at once.');
        if (reason !== null) run('Block', `/api/users/${u.id}/block`, { reason }, u);
      }, 'danger'));
      if (blocked) buttons.push(b('Unblock', async () => {
        const reason = await withReason('Unblock');
        if (reason !== null) run('Unblock', `/api/users/${u.id}/unblock`, { reason }, u);
      }));
      if (active || blocked) buttons.push(b('Reset password', async () => {
        const reason = await withReason('Reset password', 'The old password stops working and every session ends; you get a one-time link for the person.');
        if (reason === null) return;
        const out = await run('Reset password', `/api/admin/users/${u.id}/reset-password`, { reason }, u);
        if (!out) return;
        const link = h('input', { type: 'text', readonly: true, value: out.reset_url, name: 'reset-link' });
        replace(linkBox,
          field('Set-password link: send it to the person; it works once', link,
            `Valid until ${fmtTime(out.expires_at)}. ${out.sessions_revoked} session(s) ended.`),
          blocked ? h('p', { class: 'muted' }, 'The account is blocked: the link works once it is unblocked.') : null);
        link.focus();
        link.select();
      }));
      if (active || blocked) buttons.push(b('Terminate', async () => {
        const reason = await withReason('Terminate', 'Locked now, deleted after the grace month unless reactivated.', 3);
        if (reason !== null) run('Terminate', `/api/admin/users/${u.id}/terminate`, { reason }, u);
      }, 'danger'));
      if (u.status === 'terminating') buttons.push(b('Reactivate', async () => {
        const reason = await withReason('Reactivate', '', 3);
        if (reason !== null) run('Reactivate', `/api/admin/users/${u.id}/reactivate`, { reason }, u);
      }));
    }
    replace(panel,
      h('h3', { id: 'chosen-user' }, u.display_name),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Email'), h('dd', {}, u.email || '—'),
        h('dt', {}, 'Status'), h('dd', { class: 'user-status' }, u.status),
        u.delete_after ? [h('dt', {}, 'Deleted after'), h('dd', {}, fmtTime(u.delete_after))] : null,
        h('dt', {}, 'Id'), h('dd', {}, String(u.id))),
      h('div', { class: 'row' }, buttons),
      linkBox);
    panel.setAttribute('aria-labelledby', 'chosen-user');
    const first = panel.querySelector('button');
    if (first) first.focus();
  }

  box.append(h('h2', {}, 'Users'), form, panel, results);
  await find({});
}

export async function render(main, params) {
  if (!session.me.is_admin && !session.me.is_dpo) {
    main.append(h('h1', {}, 'Admin'), h('p', { class: 'error' }, 'Only admins may open this page.'));
    return null;
  }
  const tab = params.tab || (session.me.is_admin ? 'messages' : 'audit');
  main.append(h('h1', {}, 'Admin'), tabs(tab));
  const box = h('section', {});
  main.append(box);
  if (tab === 'messages') await messagesTab(box);
  else if (tab === 'audit') {
    await logTab(box, {
      title: 'Audit log',
      path: '/api/admin/audit',
      exportPath: '/api/admin/audit/export',
      fields: [
        { name: 'actor_id', label: 'Actor id', numeric: true },
        { name: 'action', label: 'Action (e.g. review.view)' },
        { name: 'target', label: 'Target' },
        { name: 'since', label: 'From', type: 'datetime-local' },
        { name: 'until', label: 'Until', type: 'datetime-local' },
      ],
      columns: [['at', 'Time', fmtTime], ['actor_id', 'Actor', (v, r) => personOf(r.actor_name, v)], ['action', 'Action'], ['target', 'Target'], ['reason', 'Reason'], ['detail', 'Detail', fields], ['ip', 'IP']],
    });
  } else if (tab === 'activity') {
    await logTab(box, {
      title: 'Activity log',
      path: '/api/admin/activity',
      fields: [
        { name: 'user_id', label: 'User id', numeric: true },
        { name: 'action', label: 'Action (e.g. login)' },
        { name: 'target', label: 'Target' },
        { name: 'ip', label: 'IP' },
        { name: 'since', label: 'From', type: 'datetime-local' },
        { name: 'until', label: 'Until', type: 'datetime-local' },
      ],
      columns: [['at', 'Time', fmtTime], ['user_id', 'User', (v, r) => personOf(r.user_name, v, '—')], ['action', 'Action'], ['target', 'Target'], ['ip', 'IP']],
    });
  } else if (tab === 'users') await usersTab(box);
  else if (tab === 'api') await (await import('./admin_api.js')).renderApiTab(box);
  return null;
}
