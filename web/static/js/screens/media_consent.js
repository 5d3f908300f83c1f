// Consent to appear in an event's photos and videos: asked on first entry into the event
// (until answered), shown and changed on the Media tab. Refusing after giving revokes it.
import { h, toast } from '../dom.js';
import * as api from '../api.js';

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

// The question as a card at the top of the room, not a modal: the room stays usable
// while it waits (the person may answer later: it stays until answered).
export function consentCard(eventId) {
  const card = h('section', { class: 'card consent-ask', role: 'region', 'aria-label': 'Photos and videos', dataset: { consent: String(eventId) } });
  const answer = (decision) => async () => {
    try {
      await setConsent(eventId, decision);
      card.remove();
      document.dispatchEvent(new CustomEvent('classhub:consent', { detail: { eventId } }));
    } catch (err) { toast(err.message, 'error'); }
  };
  card.append(
    h('h2', {}, 'Photos and videos'),
    h('p', {}, CONSENT_TEXT),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary', onclick: answer('given') }, 'Yes, I agree'),
      h('button', { type: 'button', onclick: answer('refused') }, 'No, I do not agree')));
  return card;
}

// On entering an event: ask if the person never answered (members only); the card goes in
// at the top of ``where`` on every screen of the event until it is answered.
export async function askOnFirstEntry(event, where) {
  if (!event.my_role) return;
  let mine;
  try {
    mine = (await api.get(`/api/events/${event.id}/media/consent`)).consent;
  } catch {
    return; // offline: ask next time
  }
  if (!mine && where.isConnected) where.prepend(consentCard(event.id));
}
