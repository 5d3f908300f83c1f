import { h } from '../dom.js';

export async function render(main) {
  main.append(h('h1', {}, 'organiser'), h('p', { class: 'muted' }, 'Not available on this server yet.'));
}
