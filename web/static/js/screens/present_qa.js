// The presenter view of an event's Q&A (/present/qa/<event>): full screen, large type, the
// top open questions live, for a projector, and where participants ask.
import { h } from '../dom.js';
import { mountTopQuestions } from '../qa/present.js';

export async function render(main, params) {
  const id = Number(params.id);
  const { loadEvent } = await import('./room.js');
  const { event } = await loadEvent(id);
  document.body.classList.add('presenting');
  const root = h('section', { class: 'present', 'aria-label': 'Presenter view' });
  main.append(root);
  const top = mountTopQuestions(root, { eventId: id, title: `${event.title}: questions` });
  await top.ready;
  return () => { document.body.classList.remove('presenting'); top.dispose(); };
}
