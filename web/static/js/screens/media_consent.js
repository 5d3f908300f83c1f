// Consent to appear in an event's photos and videos: asked on first entry into the event
// (until answered), shown and changed on the Media tab. Refusing after giving revokes it.
import { h } from '../dom.js';
import * as api from '../api.js';

const asked = new Set(); // events asked about in this page's life (a dismissed dialog asks again next visit)

export const CONSENT_TEXT = 'Trainers may publish photos and short videos of learning sections to this event, '
  + 'seen only by its members. Do you agree to appear in them? You can change your answer at any time on the Media tab; '
  + 'if you take it back, photos mainly of you are withdrawn at once and others are blurred within a month.';

export function describeConsent(c) {
  if (!c) return 'You have not answered yet.';
  if (c.decision === 'given') return 'You agreed to appear in this event\u2019s photos and videos.';
  if (c.decision === 'revoked') return 'You took back your consent to appear in this event\u2019s photos and videos.';
  return 'You declined to appear in this event\u2019s photos and videos.';
}

export async function setConsent(eventId, decision) {
  return api.put(`/api/events/${eventId}/media/consent`, { decision });
}

// The question as a dialog: resolves with the stored answer, or null if dismissed.
export function consentDialog(eventId) {
  return new Promise((resolve) => {
    let answered = null;
    const dialog = h('dialog', { class: 'dialog', 'aria-label': 'Photos and videos', dataset: { consent: String(eventId) } });
    const answer = (decision) => async () => {
      try {
        answered = await setConsent(eventId, decision);
        document.dispatchEvent(new CustomEvent('classhub:consent', { detail: { eventId } }));
      } finally {
        dialog.close();
      }
    };
    dialog.append(
      h('h2', {}, 'Photos and videos'),
      h('p', {}, CONSENT_TEXT),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: answer('given') }, 'Yes, I agree'),
        h('button', { type: 'button', onclick: answer('refused') }, 'No, I do not agree')));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answered); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// On entering an event: ask once if the person never answered (members only).
export async function askOnFirstEntry(event) {
  if (!event.my_role || asked.has(event.id)) return;
  asked.add(event.id);
  let mine;
  try {
    mine = (await api.get(`/api/events/${event.id}/media/consent`)).consent;
  } catch {
    return; // offline: ask next time
  }
  if (!mine) await consentDialog(event.id);
}
