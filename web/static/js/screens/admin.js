// Admin: message-log search (DMs need a stated reason), export, audit log, activity log, users.
import { h, replace, field, ask, toast, fmtTime, showInfo } from '../dom.js';
import * as api from '../api.js';
import { session } from '../app.js';

const TABS = [['messages', 'Message log'], ['audit', 'Audit log'], ['activity', 'Activity log'], ['users', 'Users']];

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

function table(columns, rows, empty = 'Nothing found.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map(([, label]) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([key, , fmt]) => h('td', {}, fmt ? fmt(row[key], row) : (row[key] ?? ''))))))));
}

const json = (v) => (v && typeof v === 'object' ? JSON.stringify(v) : v ?? '');
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
      ['author_name', 'Author', (v, r) => v || (r.author_id ? `#${r.author_id}` : '—')],
      ['type', 'Type'],
      ['text', 'Text', (v, r) => (v ?? json(r.body))],
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
      const lines = [`${one.channel} #${one.seq} · ${one.type} · ${one.author_name || 'former participant'} · ${fmtTime(one.created_at)}`,
        `Text: ${one.text ?? json(one.body)}`]
        .concat((one.history || []).map((hst) => `${hst.type || ''} ${fmtTime(hst.created_at || hst.at)}: ${hst.text ?? json(hst.body ?? hst)}`));
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

async function usersTab(box) {
  box.append(h('h2', {}, 'Users'));
  const ops = await api.operations();
  const has = (method, path) => Boolean(ops[path] && ops[path][method]);
  const results = h('div', { 'aria-live': 'polite' });

  async function action(label, method, path, needsReason) {
    let body = {};
    if (needsReason) {
      const v = await ask(label, [{ name: 'reason', label: 'Reason (written to the audit log)', type: 'textarea', required: true }], label);
      if (!v) return;
      body = { reason: v.reason.trim() };
    }
    try {
      const out = await api.request(method, path, { body });
      toast(`${label}: done`);
      if (out && (out.invite_url || out.reset_url || out.url)) {
        await showInfo(label, [`Send this link to the person: ${out.invite_url || out.reset_url || out.url}`]);
      }
      if (listUsers) listUsers(currentQuery);
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  function userActions(u) {
    const id = u.id ?? u.user_id;
    const out = [];
    const b = (label, method, path, needsReason, cls) => h('button', { type: 'button', class: cls || '', 'aria-label': `${label}: ${u.display_name || id}`, onclick: () => action(label, method, path, needsReason) }, label);
    if (u.status !== 'blocked') out.push(b('Block', 'POST', `/api/users/${id}/block`, true, 'danger'));
    else out.push(b('Unblock', 'POST', `/api/users/${id}/unblock`, true));
    // Whatever account operations this server offers (they land feature by feature).
    const offered = [
      [/^\/api\/admin\/users\/\{\w+\}\/terminate$/, 'Terminate', 'danger', true],
      [/^\/api\/admin\/users\/\{\w+\}\/reactivate$/, 'Reactivate', '', true],
      [/^\/api\/(admin\/)?users\/\{\w+\}\/(reset-password|password-reset)$/, 'Reset password', '', false],
    ];
    for (const [re, label, cls, needsReason] of offered) {
      const path = Object.keys(ops).find((p) => re.test(p) && ops[p].post);
      if (path) out.push(b(label, 'POST', path.replace(/\{\w+\}/, id), needsReason, cls));
    }
    return h('div', { class: 'row' }, out);
  }

  let listUsers = null;
  let currentQuery = {};
  const listPath = ['/api/admin/users', '/api/users'].find((p) => has('get', p));
  if (listPath) {
    const { form } = filterForm([{ name: 'q', label: 'Name or email' }], 'Find', (q) => listUsers(q));
    listUsers = async (q) => {
      currentQuery = q;
      try {
        const data = await api.get(listPath, q);
        const items = data.items || data.users || [];
        replace(results, table([
          ['id', 'Id', (v, r) => v ?? r.user_id],
          ['display_name', 'Name'],
          ['email', 'Email'],
          ['status', 'Status'],
          ['id', 'Actions', (v, r) => userActions(r)],
        ], items));
      } catch (err) {
        replace(results, h('p', { class: 'error' }, err.message));
      }
    };
    box.append(form, results);
    await listUsers({});
  } else {
    const idInput = h('input', { name: 'user', inputmode: 'numeric', required: true });
    const form = h('form', { class: 'card row' }, field('User id', idInput), h('button', { type: 'submit' }, 'Choose'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      replace(results, userActions({ id: Number(idInput.value), display_name: `user #${idInput.value}` }));
    });
    box.append(form, results, h('p', { class: 'muted' }, 'This server has no user list yet; pick a person by id (see the People tab of an event).'));
  }
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
      columns: [['at', 'Time', fmtTime], ['actor_id', 'Actor'], ['action', 'Action'], ['target', 'Target'], ['reason', 'Reason'], ['detail', 'Detail', json], ['ip', 'IP']],
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
      columns: [['at', 'Time', fmtTime], ['user_id', 'User'], ['action', 'Action'], ['target', 'Target'], ['ip', 'IP']],
    });
  } else if (tab === 'users') await usersTab(box);
  return null;
}
