// Restriction of processing (GDPR Art. 18) on the Me screen: ask for it with a reason,
// see since when it is in force. Only an admin lifts it (docs/privacy.md).
import { h, toast, fmtTime, ask } from '../dom.js';
import * as api from '../api.js';

export function restrictionCard(data) {
  const current = (data.processing_restrictions || []).find((r) => r.active);
  const card = h('section', { class: 'card restriction' }, h('h2', {}, 'Restrict processing'));
  if (current) {
    card.append(h('p', {}, `Processing of your data is restricted since ${fmtTime(current.requested_at)}: `, current.reason),
      h('p', { class: 'muted' }, 'Your data is kept but not used: no information or bulk mail, your profile shows your name only, co-participants do not see you in member lists. An admin lifts the restriction.'));
    return card;
  }
  card.append(h('p', {}, 'You may ask that your data be kept but not used, for example while you contest its accuracy.'),
    h('button', { type: 'button', onclick: async () => {
      const v = await ask('Restrict processing of my data', [
        { name: 'reason', label: 'Why (for the admins)', type: 'textarea', required: true, maxlength: 2000 },
      ], 'Restrict');
      if (!v) return;
      try {
        const out = await api.post('/api/me/restriction', { reason: v.reason });
        toast('Processing of your data is restricted');
        card.replaceWith(restrictionCard({ processing_restrictions: [out.restriction] }));
      } catch (err) { toast(err.message, 'error'); }
    } }, 'Restrict processing'));
  return card;
}
