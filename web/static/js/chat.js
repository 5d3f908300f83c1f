// A live conversation on one channel: event chat, a learning group, a DM.
import { h, field, replace, fmtClock, toast } from './dom.js';
import { session } from './app.js';
import { outboxAll } from './store.js';

// What a chat event looks like on screen. Edits and removals are later events
// in the same log that refer to the message they change (ref_id).
const MESSAGE_TYPES = new Set(['message', 'chat', 'dm', 'post']);

export function textOf(body) {
  if (body == null) return '';
  if (typeof body === 'string') return body;
  return body.text ?? body.body ?? '';
}

export function createChat(channel, { label = 'Message', names = new Map(), placeholder = '' } = {}) {
  const rt = session.rt;
  const list = h('ol', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': `${label} history` });
  const input = h('textarea', { name: 'text', rows: 2, required: true, maxlength: 4000, placeholder });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const form = h('form', { class: 'composer' }, field(label, input), send);
  const root = h('section', { class: 'chat', dataset: { channel } }, list, form);
  const byId = new Map(); // event id -> li
  let sub = null;
  let disposed = false;

  function nameOf(id) {
    if (id == null) return 'classhub';
    if (session.me && id === session.me.id) return 'You';
    return names.get(id) || `#${id}`;
  }

  function scroll() { list.scrollTop = list.scrollHeight; }

  function apply(event) {
    if (MESSAGE_TYPES.has(event.type) || (event.ref_id == null && textOf(event.body) && !event.type.includes('delete'))) {
      if (event.client_id) {
        const pending = list.querySelector(`li[data-client-id="${CSS.escape(event.client_id)}"]`);
        if (pending) pending.remove();
      }
      if (byId.has(event.id)) return;
      const li = h('li', {
        class: `msg${session.me && event.author_id === session.me.id ? ' mine' : ''}`,
        dataset: { id: event.id, seq: event.seq },
      },
      h('span', { class: 'who' }, event.author_name || nameOf(event.author_id)),
      h('span', { class: 'text' }, textOf(event.body)),
      ' ',
      h('time', { class: 'at', datetime: event.created_at || event.at || '' }, fmtClock(event.created_at || event.at)));
      byId.set(event.id, li);
      list.append(li);
      scroll();
      return;
    }
    const target = event.ref_id != null ? byId.get(event.ref_id) : null;
    if (!target) return;
    if (event.type.includes('edit')) {
      target.querySelector('.text').textContent = textOf(event.body);
      target.classList.add('edited');
    } else if (event.type.includes('delete') || event.type.includes('remove') || event.type.includes('offline')) {
      target.classList.add('removed');
      target.querySelector('.text').textContent = event.body && event.body.reason ? `removed: ${event.body.reason}` : 'removed';
    }
  }

  async function showPending() {
    const items = (await outboxAll().catch(() => [])).filter((i) => i.kind === 'ws' && i.channel === channel);
    for (const li of list.querySelectorAll('li.pending')) {
      if (!items.some((i) => i.client_id === li.dataset.clientId)) li.remove();
    }
    for (const item of items) {
      if (list.querySelector(`li[data-client-id="${CSS.escape(item.client_id)}"]`)) continue;
      list.append(h('li', { class: 'msg mine pending', dataset: { clientId: item.client_id } },
        h('span', { class: 'who' }, 'You'),
        h('span', { class: 'text' }, textOf(item.body)),
        h('span', { class: 'state' }, 'sending…')));
    }
    scroll();
  }

  const onFlush = () => { if (!disposed) showPending(); };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    const { done } = await rt.publish(channel, { text });
    showPending();
    done.catch((err) => toast(`Not sent: ${err.message}`, 'error'));
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });

  async function start() {
    rt.flushListeners.add(onFlush);
    sub = await rt.subscribe(channel, (msg) => {
      if (msg.kind === 'reset') { replace(list); byId.clear(); showPending(); return; }
      apply(msg.event);
    });
    if (disposed) { sub.unsubscribe(); return; }
    for (const e of sub.events) apply(e);
    await showPending();
  }

  return {
    el: root,
    start,
    input,
    dispose() {
      disposed = true;
      rt.flushListeners.delete(onFlush);
      if (sub) sub.unsubscribe();
    },
  };
}
