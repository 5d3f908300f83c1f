// A direct conversation with one person.
import { h } from '../dom.js';
import { session } from '../session.js';
import { createChat } from '../chat.js';
import { dmOpened } from '../news.js';

export function dmChannel(a, b) {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return `dm:${lo}:${hi}`;
}

export async function render(main, params, query) {
  const other = Number(params.user);
  const name = query.get('name') || `#${other}`;
  if (other === session.me.id) {
    main.append(h('p', {}, 'That is you.'));
    return null;
  }
  dmOpened(other);
  const title = h('h1', {}, `Direct messages with ${name}`);
  main.append(title, h('p', { class: 'muted' }, 'Only the two of you can read this conversation (admins may review it, with a stated reason that is logged).'));
  const chat = createChat(dmChannel(session.me.id, other), { label: `Message to ${name}` });
  main.append(chat.el);
  await chat.start();
  // Name the other person from their first message when the link did not.
  const named = chat.el.querySelector('li.msg:not(.mine) .who');
  if (!query.get('name') && named) title.textContent = `Direct messages with ${named.textContent}`;
  return chat.dispose;
}
