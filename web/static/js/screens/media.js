// The Media tab of an event: trainers' photos and videos of learning sections, my consent
// to appear in them, and for trainers the upload, tags, the due list with its blur tool,
// and who declined or took back consent.
import { h, replace, toast, fmtTime } from '../dom.js';
import * as api from '../api.js';
import { describeConsent, setConsent } from './media_consent.js';
import { blurTool } from './media_blur.js';

const ACCEPT = 'image/png,image/jpeg,image/webp,video/mp4,video/webm';

function consentBox(event, data, reload) {
  const mine = data.my_consent;
  const given = mine && mine.decision === 'given';
  return h('section', { class: 'card', 'aria-label': 'My consent' },
    h('h2', {}, 'Appearing in photos and videos'),
    h('p', { class: 'consent-state' }, describeConsent(mine), mine ? ` (${fmtTime(mine.at)})` : ''),
    h('button', { type: 'button', onclick: async () => {
      try {
        await setConsent(event.id, given ? 'refused' : 'given');
        toast(given ? 'Consent taken back' : 'Consent given');
        reload();
      } catch (err) { toast(err.message, 'error'); }
    } }, given ? 'Take back my consent' : 'I agree to appear'));
}

function uploadForm(event, reload) {
  const file = h('input', { type: 'file', name: 'media-file', accept: ACCEPT, required: true, id: 'media-file' });
  const title = h('input', { name: 'media-title', maxlength: 200, id: 'media-title' });
  const form = h('form', { class: 'card' },
    h('h2', {}, 'Publish a photo or video'),
    h('div', { class: 'field' }, h('label', { for: 'media-title' }, 'Title (learning section)'), title),
    h('div', { class: 'field' }, h('label', { for: 'media-file' }, 'File (PNG, JPEG, WebP, MP4, WebM)'), file),
    h('button', { type: 'submit', class: 'primary' }, 'Publish'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    try {
      // The file is the body; fetch sends its type as the Content-Type.
      await api.request('POST', `/api/events/${event.id}/media`, { form: f, query: { title: title.value } });
      toast('Published');
      reload();
    } catch (err) { toast(err.message, 'error'); }
  });
  return form;
}

function tagDialog(item, data, reload) {
  const given = data.consents.filter((c) => c.decision === 'given');
  const current = new Map((item.tags || []).map((t) => [t.user_id, t.portrait]));
  const rows = given.map((c) => {
    const shown = h('input', { type: 'checkbox', id: `tag-${item.id}-${c.user_id}`, checked: current.has(c.user_id) });
    const portrait = h('input', { type: 'checkbox', id: `portrait-${item.id}-${c.user_id}`, checked: Boolean(current.get(c.user_id)) });
    return { c, shown, portrait, el: h('li', { class: 'check' }, shown, h('label', { for: shown.id }, c.display_name), ' ', portrait, h('label', { for: portrait.id }, 'portrait')) };
  });
  const dialog = h('dialog', { class: 'dialog', 'aria-label': 'Who is shown' },
    h('h2', {}, `Who is shown: ${item.title || 'medium'}`),
    h('p', { class: 'muted' }, 'Only people who agreed to appear can be tagged. A portrait is withdrawn at once if they take consent back; others go on your due list.'),
    given.length ? h('ul', { class: 'plain' }, rows.map((r) => r.el)) : h('p', {}, 'Nobody has agreed yet.'),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary', onclick: async () => {
        const tags = rows.filter((r) => r.shown.checked).map((r) => ({ user_id: r.c.user_id, portrait: r.portrait.checked }));
        try {
          await api.put(`/api/media/${item.id}/tags`, { tags });
          dialog.close();
          reload();
        } catch (err) { toast(err.message, 'error'); }
      } }, 'Save'),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// Replace a medium's file with an edited one of the same kind (clears its due items).
function replaceButton(item, reload) {
  const input = h('input', { type: 'file', class: 'sr', accept: item.kind === 'video' ? 'video/mp4,video/webm' : 'image/png,image/jpeg,image/webp', 'aria-label': `New file for ${item.title || 'this medium'}` });
  input.addEventListener('change', async () => {
    const f = input.files[0];
    if (!f) return;
    try {
      await api.request('PUT', `/api/media/${item.id}/file`, { form: f });
      toast('Replaced');
      reload();
    } catch (err) { toast(err.message, 'error'); }
  });
  return h('span', {}, input, h('button', { type: 'button', onclick: () => input.click() }, 'Replace'));
}

// A poster image for a video (no frame is extracted on the server).
function posterButton(item, reload) {
  const input = h('input', { type: 'file', class: 'sr', accept: 'image/png,image/jpeg,image/webp', 'aria-label': `Poster for ${item.title || 'this video'}` });
  input.addEventListener('change', async () => {
    const f = input.files[0];
    if (!f) return;
    try {
      await api.request('PUT', `/api/media/${item.id}/poster`, { form: f });
      reload();
    } catch (err) { toast(err.message, 'error'); }
  });
  return h('span', {}, input, h('button', { type: 'button', onclick: () => input.click() }, 'Poster'));
}

async function withdraw(item, reload) {
  try {
    await api.post(`/api/media/${item.id}/withdraw`, { reason: 'withdrawn by a trainer' });
    toast('Withdrawn');
    reload();
  } catch (err) { toast(err.message, 'error'); }
}

function dueList(data, byId, reload) {
  const box = h('section', { class: 'card due-list', 'aria-label': 'Due list' }, h('h2', {}, `Due list (${data.due.length})`));
  if (!data.due.length) {
    box.append(h('p', { class: 'muted' }, 'Nothing to blur.'));
    return box;
  }
  box.append(h('p', { class: 'muted' }, 'These show someone who took back their consent. Blur or replace them by the date given, or they are withdrawn automatically.'));
  box.append(h('ul', { class: 'plain' }, data.due.map((d) => {
    const item = byId.get(d.media_id);
    return h('li', { dataset: { mediaId: d.media_id } },
      h('strong', {}, d.title || `#${d.media_id}`), ` shows ${d.display_name || 'a former participant'} \u2014 due ${fmtTime(d.due_at)} `,
      item && item.kind === 'photo' ? h('button', { type: 'button', onclick: async () => { if (await blurTool(item)) reload(); } }, 'Blur') : null,
      item ? replaceButton(item, reload) : null,
      item ? h('button', { type: 'button', onclick: () => withdraw(item, reload) }, 'Withdraw') : null);
  })));
  return box;
}

function consentList(data) {
  const no = data.consents.filter((c) => c.decision === 'refused' || c.decision === 'revoked');
  const undecided = data.consents.filter((c) => !c.decision).length;
  return h('section', { class: 'card consent-list', 'aria-label': 'Not to be shown' },
    h('h2', {}, `Not to be shown (${no.length})`),
    no.length ? h('ul', { class: 'plain' }, no.map((c) => h('li', {}, `${c.display_name}: ${c.decision === 'revoked' ? 'took consent back' : 'declined'} ${fmtTime(c.at)}`)))
      : h('p', { class: 'muted' }, 'Everyone who answered agreed.'),
    undecided ? h('p', { class: 'muted' }, `${undecided} not asked yet (they are asked when they first open the event).`) : null);
}

function tile(item, data, reload) {
  const caption = h('figcaption', {}, item.title || (item.kind === 'video' ? 'Video' : 'Photo'));
  let body;
  if (item.state !== 'published') {
    body = h('p', { class: 'muted' }, `Withdrawn ${fmtTime(item.withdrawn_at)}: ${item.withdrawn_reason || ''}`);
  } else if (item.kind === 'video') {
    body = h('video', { controls: true, preload: 'metadata', src: item.url, poster: item.poster_url || '/static/media-poster.svg', 'aria-label': item.title || 'Video' });
  } else {
    body = h('img', { src: item.url, alt: item.title || 'Photo of a learning section', loading: 'lazy' });
  }
  const fig = h('figure', { class: 'media-tile', dataset: { mediaId: item.id, version: item.version } }, body, caption);
  if (data.may_manage && item.state === 'published') {
    const tags = item.tags || [];
    fig.append(h('p', { class: 'muted' }, tags.length ? `Shows: ${tags.map((t) => t.display_name + (t.portrait ? ' (portrait)' : '')).join(', ')}` : 'Nobody tagged.'),
      h('div', { class: 'row' },
        h('button', { type: 'button', onclick: () => tagDialog(item, data, reload) }, 'Who is shown'),
        item.kind === 'photo' ? h('button', { type: 'button', onclick: async () => { if (await blurTool(item)) reload(); } }, 'Blur') : null,
        replaceButton(item, reload),
        item.kind === 'video' ? posterButton(item, reload) : null,
        h('button', { type: 'button', onclick: () => withdraw(item, reload) }, 'Withdraw')));
  }
  return fig;
}

export async function mediaTab(event) {
  const box = h('section', { class: 'media' });
  async function reload() {
    let data;
    try {
      data = await api.get(`/api/events/${event.id}/media`);
    } catch (err) {
      replace(box, h('p', { class: 'error' }, err.message));
      return;
    }
    const byId = new Map(data.items.map((i) => [i.id, i]));
    const parts = [h('h2', {}, 'Photos and videos')];
    if (event.my_role) parts.push(consentBox(event, data, reload));
    if (data.may_manage) parts.push(uploadForm(event, reload), dueList(data, byId, reload), consentList(data));
    parts.push(data.items.length ? h('div', { class: 'media-grid' }, data.items.map((i) => tile(i, data, reload)))
      : h('p', { class: 'muted' }, 'No photos or videos yet.'));
    replace(box, ...parts);
  }
  await reload();
  // The first-entry question may be answered while this tab is open.
  const onConsent = (ev) => {
    if (!box.isConnected) document.removeEventListener('classhub:consent', onConsent);
    else if (ev.detail.eventId === event.id) reload();
  };
  document.addEventListener('classhub:consent', onConsent);
  return box;
}
