// A live conversation on one channel: event chat, a learning group, a DM.
import { h, field, replace, fmtClock, toast } from './dom.js';
import { session } from './session.js';
import { outboxAll } from './store.js';

// What a chat event looks like on screen. The server's changes of a message are later
// events in the same log that refer to it (ref): message.edited re-renders it (an erased
// author: former_participant, with the text only when it was blanked), message.deleted
// removes it; a trainer's removal (room controls) leaves the placeholder in the message's
// own body (body.removed, also in replays) and message.removed; message.restored undoes it.
// Event types: storage/event_types.py, docs/protocol.md.
const MESSAGE_TYPES = new Set(['message']);

export const removedText = (reason) => `removed by a trainer: ${reason || ''}`;

export function textOf(body) {
  if (body == null) return '';
  if (typeof body === 'string') return body;
  return body.text ?? body.body ?? '';
}

export function createChat(channel, { label = 'Message', names = new Map(), placeholder = '', readOnly = '', decorate = null, onEvent = null } = {}) {
  // names: user id -> display name, for events whose author carries no name.
  // readOnly: a notice shown instead of the composer, for someone who may read only.
  // decorate(li, event): adds to a shown message (a trainer's menu, room_controls.js);
  // onEvent(event): sees every other event of the channel (room.updated).
  const rt = session.rt;
  const list = h('ol', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const input = h('textarea', { name: 'text', rows: 2, required: true, maxlength: 4000, placeholder });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const form = h('form', { class: 'composer' }, field(label, input), send);
  const composer = readOnly ? h('p', { class: 'muted read-only', role: 'note' }, readOnly) : form;
  const root = h('section', { class: 'chat', dataset: { channel } }, list, composer);
  const byId = new Map(); // event id -> li
  let sub = null;
  let disposed = false;

  const mine = (event) => Boolean(session.me && event.author && event.author.id === session.me.id);
  function authorName(event) {
    if (!event.author) return 'former participant';
    if (mine(event)) return 'You';
    return event.author.name || names.get(event.author.id) || `#${event.author.id}`;
  }

  function scroll() { list.scrollTop = list.scrollHeight; }

  function apply(event) {
    if (MESSAGE_TYPES.has(event.type)) {
      if (byId.has(event.id)) return;
      const li = h('li', {
        class: `msg${mine(event) ? ' mine' : ''}`,
        dataset: { id: event.id, seq: event.seq },
      },
      h('span', { class: 'who' }, authorName(event)),
      h('span', { class: 'text' }, textOf(event.body)),
      ' ',
      h('time', { class: 'at', datetime: event.time || '' }, fmtClock(event.time)));
      const removed = event.body && event.body.removed;
      if (removed) {
        li.classList.add('removed');
        li.querySelector('.text').textContent = removedText(removed.reason);
      }
      if (decorate) decorate(li, event);
      byId.set(event.id, li);
      list.append(li);
      scroll();
      return;
    }
    if (onEvent) onEvent(event);
    const target = event.ref != null ? byId.get(event.ref) : null;
    if (!target) return;
    const body = event.body || {};
    if (event.type === 'message.edited') {
      if (body.former_participant) target.querySelector('.who').textContent = 'former participant';
      if (typeof body.text === 'string') {
        target.querySelector('.text').textContent = body.text;
        target.classList.add('edited');
      }
    } else if (event.type === 'message.deleted') {
      target.classList.add('removed');
      target.querySelector('.text').textContent = body.reason ? `removed: ${body.reason}` : 'removed';
    } else if (event.type === 'message.removed') {
      target.classList.add('removed');
      target.querySelector('.text').textContent = removedText(body.reason);
    } else if (event.type === 'message.restored') {
      target.classList.remove('removed');
      target.querySelector('.text').textContent = textOf(body.body);
    }
  }

  async function showPending() {
    // (An item answered while this read ran is still in it: not pending any more.)
    const items = (await outboxAll().catch(() => [])).filter((i) => i.kind === 'ws' && i.channel === channel && !rt.answered.has(i.client_id));
    if (disposed) return;
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

  const onFlush = (info) => {
    if (disposed) return;
    if (info && info.held && info.frame.channel === channel) {
      // Held by the word list: shown to its author only, until a trainer decides.
      const li = list.querySelector(`li[data-client-id="${CSS.escape(info.held)}"]`);
      if (li) {
        li.classList.replace('pending', 'held');
        li.removeAttribute('data-client-id');
        li.querySelector('.state').textContent = 'held for review';
        return;
      }
    }
    if (info && info.acked && info.frame.channel === channel) {
      // The ack comes before the event: the pending line becomes the message.
      const li = list.querySelector(`li[data-client-id="${CSS.escape(info.acked)}"]`);
      if (li && !byId.has(info.frame.event_id)) {
        li.classList.remove('pending');
        li.removeAttribute('data-client-id');
        li.dataset.id = info.frame.event_id;
        li.dataset.seq = info.frame.seq;
        const state = li.querySelector('.state');
        if (state) state.remove();
        li.append(' ', h('time', { class: 'at' }, fmtClock(new Date())));
        byId.set(info.frame.event_id, li);
        return;
      }
    }
    showPending();
  };

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
      if (msg.kind === 'reset') {
        replace(list, h('li', { class: 'muted' }, 'Earlier messages are not shown.'));
        byId.clear();
        showPending();
      } else if (msg.kind === 'denied') {
        list.append(h('li', { class: 'error' }, `You cannot read this conversation (${msg.code}).`));
      } else if (msg.kind === 'event') {
        apply(msg.event);
      }
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
