// The pinboard (filled in when the pinboard API lands).
import { h } from './dom.js';

export async function createBoard() {
  return { el: h('p', { class: 'muted' }, 'The pinboard is not available on this server yet.'), dispose() {} };
}
