// A direct conversation with one person.
import { h } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { createChat } from '../chat.js';
import { dmOpened } from '../news.js';

export function dmChannel(a, b) {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return `dm:${lo}:${hi}`;
}

// The other person's name for a link that did not carry it (a notice, a shared
// /dm/<id> link): their profile as far as I may see it, which names anyone I share
// an event with; the id alone otherwise. Not for an admin: their read of a profile
// beyond what their events show is audited, and opening a conversation is no review.
async function nameOf(other) {
  if (session.me.is_admin) return null;
  try {
    return (await api.get(`/api/users/${other}/profile`)).display_name || null;
  } catch {
    return null;
  }
}

export async function render(main, params, query) {
  const other = Number(params.user);
  if (other === session.me.id) {
    main.append(h('p', {}, 'That is you.'));
    return null;
  }
  const name = query.get('name') || await nameOf(other) || `#${other}`;
  dmOpened(other);
  const title = h('h1', {}, `Direct messages with ${name}`);
  main.append(title, h('p', { class: 'muted' }, 'Only the two of you can read this conversation (admins may review it, with a stated reason that is logged).'));
  const chat = createChat(dmChannel(session.me.id, other), { label: `Message to ${name}` });
  main.append(chat.el);
  await chat.start();
  // Otherwise the other person's first message names them.
  const named = chat.el.querySelector('li.msg:not(.mine) .who');
  if (name === `#${other}` && named) title.textContent = `Direct messages with ${named.textContent}`;
  return chat.dispose;
}
