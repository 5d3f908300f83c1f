// The event room: header, tabs (chat, board, live activities, people, groups, news) and the attendance list.
import { h, replace, fmtTime, showInfo, toast } from '../dom.js';
import * as api from '../api.js';
import { session } from '../session.js';
import { createChat } from '../chat.js';
import { describeNews, isNewsChange } from '../news.js';
import { createRoomControls, muteButtons } from '../room_controls.js';

const RANK = { participant: 1, trainer: 2, organiser: 3 };
export const atLeast = (role, wanted) => (RANK[role] || 0) >= RANK[wanted];
// An admin who is not enrolled reads the event as a reviewer: they may not write.
const REVIEW_NOTICE = 'You are reviewing this event as an admin and are not enrolled in it: you can read, not write.';
const reviewing = (event) => !event.my_role && Boolean(session.me.is_admin);

export async function loadEvent(id) {
  const [{ data: event, stale }, members] = await Promise.all([
    api.cachedGet(`/api/events/${id}`),
    api.cachedGet(`/api/events/${id}/members`).then((r) => r.data.members || []).catch(() => []),
  ]);
  return { event, members, stale };
}

export function eventHeader(event, stale) {
  return h('header', { class: 'room-head' },
    h('h1', {}, event.title),
    h('p', { class: 'muted' },
      `${fmtTime(event.starts_at)} – ${fmtTime(event.ends_at)}`,
      event.location ? ` · ${event.location}` : '',
      event.status && event.status !== 'scheduled' ? h('span', { class: `tag ${event.status}` }, ` ${event.status}`) : null),
    event.description ? h('p', { class: 'description' }, event.description) : null,
    stale ? h('p', { class: 'muted' }, 'Offline: showing what was last seen.') : null);
}

export function roomTabs(event, current) {
  const role = event.my_role;
  const tabs = [['chat', 'Chat'], ['board', 'Pinboard'], ['activities', 'Live'], ['qa', 'Q&A'], ['people', 'People'], ['groups', 'Groups'], ['news', 'News'], ['media', 'Media']];
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Event sections' });
  for (const [key, label] of tabs) {
    nav.append(h('a', { href: key === 'chat' ? `/events/${event.id}` : `/events/${event.id}/${key}`, 'aria-current': key === current ? 'page' : null }, label));
  }
  if (atLeast(role, 'trainer') || session.me.is_admin) {
    nav.append(h('a', { href: `/trainer/${event.id}`, 'aria-current': current === 'moderation' ? 'page' : null }, 'Moderation'));
  }
  if (atLeast(role, 'trainer') || session.me.is_admin) {
    nav.append(h('a', { href: `/events/${event.id}/organiser/mail`, 'aria-current': current === 'organiser' ? 'page' : null }, 'Organise'));
  }
  return nav;
}

// The attendance list: who is connected to this event now (presence frames).
export function attendance(event, members) {
  const list = h('ul', { class: 'people', 'aria-label': 'Here now' });
  const count = h('span', { class: 'muted' });
  const present = new Map();
  const box = h('aside', { class: 'card attendance' }, h('h2', {}, 'Here now ', count), list);
  const names = new Map(members.map((m) => [m.user_id, m.display_name]));
  function draw() {
    replace(list);
    const sorted = [...present.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const p of sorted) {
      const isMe = session.me && p.id === session.me.id;
      list.append(h('li', { dataset: { userId: p.id } },
        h('span', { class: 'dot here', 'aria-hidden': 'true' }),
        isMe ? `${p.name} (you)` : h('a', { href: `/dm/${p.id}?name=${encodeURIComponent(p.name)}`, title: `Message ${p.name}` }, p.name)));
    }
    count.textContent = `(${present.size})`;
  }
  const listener = (frame) => {
    if (frame.event !== event.id) return;
    if (frame.present) {
      present.clear();
      for (const p of frame.present) present.set(p.id, { id: p.id, name: p.name || names.get(p.id) || `#${p.id}` });
    }
    for (const p of frame.joined || []) present.set(p.id, { id: p.id, name: p.name || names.get(p.id) || `#${p.id}` });
    for (const id of frame.left || []) present.delete(id);
    draw();
  };
  session.rt.presenceListeners.add(listener);
  draw();
  return { el: box, dispose: () => session.rt.presenceListeners.delete(listener) };
}

// A person's profile as far as I may see it: the brief one (photo, about me) only
// when they chose to show it, the full one to trainers and organisers.
async function showProfile(member) {
  let p;
  try {
    p = await api.get(`/api/users/${member.user_id}/profile`);
  } catch (err) {
    toast(err.message, 'error');
    return;
  }
  const lines = [];
  if (p.view === 'name') {
    lines.push(`${p.display_name} has not made a profile visible to co-participants.`);
  } else {
    if (p.has_photo) lines.push(h('img', { src: `/api/users/${p.id}/photo`, alt: `Photo of ${p.display_name}`, class: 'avatar' }));
    lines.push(p.profile_bio ? p.profile_bio : 'No “about me” text.');
    if (p.view === 'full') {
      if (p.organisation) lines.push(`Organisation: ${p.organisation}`);
      if (p.phone) lines.push(`Phone: ${p.phone}`);
      if (p.email) lines.push(`Email: ${p.email}`);
    }
  }
  await showInfo(p.display_name, lines);
}

function peopleTab(event, members) {
  const staff = atLeast(event.my_role, 'trainer') || session.me.is_admin;
  const rows = members.map((m) => h('tr', {},
    h('td', {}, h('button', { type: 'button', class: 'link', 'aria-label': `Profile of ${m.display_name}`, onclick: () => showProfile(m) }, m.display_name)),
    h('td', {}, m.role),
    m.email !== undefined && m.email !== null ? h('td', {}, m.email) : h('td', { class: 'muted' }, '—'),
    h('td', {}, session.me.id === m.user_id ? '' : h('a', { href: `/dm/${m.user_id}?name=${encodeURIComponent(m.display_name)}` }, 'Message'),
      staff && m.role === 'participant' ? h('span', { class: 'row' }, ' Mute: ', muteButtons(event.id, m)) : null)));
  return h('section', {},
    h('h2', {}, `Enrolled (${members.length})`),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Role'), h('th', {}, 'Email'), h('th', {}, h('span', { class: 'sr' }, 'Actions')))),
      h('tbody', {}, rows))));
}

async function groupsTab(event, members, query, disposers) {
  const box = h('section', {});
  let groups = [];
  try {
    groups = (await api.cachedGet(`/api/events/${event.id}/groups`)).data.groups || [];
  } catch (err) {
    box.append(h('p', { class: 'error' }, err.message));
    return box;
  }
  const mine = groups.filter((g) => g.members.some((m) => m.user_id === session.me.id));
  const visible = atLeast(event.my_role, 'trainer') || session.me.is_admin ? groups : mine;
  const current = Number(query.get('group')) || (visible[0] && visible[0].id);
  const list = h('ul', { class: 'tags', 'aria-label': 'Learning groups' });
  for (const g of visible) {
    list.append(h('li', {}, h('a', { href: `/events/${event.id}/groups?group=${g.id}`, class: 'tag', 'aria-current': g.id === current ? 'page' : null },
      `${g.name} (${g.members.length})`)));
  }
  box.append(h('h2', {}, 'Learning groups'), list);
  if (atLeast(event.my_role, 'trainer') || session.me.is_admin) {
    const name = h('input', { name: 'group', required: true, maxlength: 120 });
    const form = h('form', { class: 'row' }, h('label', { for: 'new-group' }, 'New group'), name, h('button', { type: 'submit' }, 'Create'));
    name.id = 'new-group';
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const g = await api.post(`/api/events/${event.id}/groups`, { name: name.value, member_ids: [] });
      location.assign(`/events/${event.id}/groups?group=${g.id}`);
    });
    box.append(form);
  }
  const group = visible.find((g) => g.id === current);
  if (!group) {
    box.append(h('p', { class: 'muted' }, 'You are not in a learning group of this event.'));
    return box;
  }
  box.append(h('p', { class: 'muted' }, 'Members: ', group.members.map((m) => m.display_name).join(', ')));
  const view = ['board', 'live', 'qa'].includes(query.get('view')) ? query.get('view') : 'chat';
  const base = `/events/${event.id}/groups?group=${group.id}`;
  box.append(h('p', { class: 'row' },
    h('a', { href: base, 'aria-current': view === 'chat' ? 'page' : null }, 'Group chat'),
    h('a', { href: `${base}&view=board`, 'aria-current': view === 'board' ? 'page' : null }, 'Group pinboard'),
    h('a', { href: `${base}&view=live`, 'aria-current': view === 'live' ? 'page' : null }, 'Group activities'),
    h('a', { href: `${base}&view=qa`, 'aria-current': view === 'qa' ? 'page' : null }, 'Group Q&A')));
  if (view === 'live') {
    const { createActivities } = await import('../activities.js');
    const panel = await createActivities(event, { groupId: group.id });
    box.append(panel.el);
    disposers.push(panel.dispose);
    return box;
  }
  if (view === 'qa') {
    const { createQa } = await import('../qa.js');
    const qa = await createQa(event, { groupId: group.id, reviewing: reviewing(event) });
    box.append(qa.el);
    disposers.push(qa.dispose);
    return box;
  }
  if (view === 'board') {
    const { createBoard } = await import('../board.js');
    const board = await createBoard(event, members, { groupId: group.id });
    box.append(board.el);
    disposers.push(board.dispose);
    return box;
  }
  const controls = await createRoomControls(event.id);
  const chat = createChat(`group:${group.id}`, { label: `Message to ${group.name}`, readOnly: reviewing(event) ? REVIEW_NOTICE : '', names: new Map(members.map((m) => [m.user_id, m.display_name])), decorate: controls.decorate, onEvent: controls.onEvent });
  box.append(controls.el, chat.el);
  disposers.push(chat.dispose, controls.dispose);
  await chat.start();
  return box;
}

async function newsTab(event) {
  const box = h('section', {}, h('h2', {}, 'News from the organisers'));
  const list = h('ol', { class: 'messages', 'aria-label': 'News' });
  box.append(list);
  const sub = await session.rt.subscribe(`event:${event.id}:news`, (msg) => {
    if (msg.kind === 'event') add(msg.event);
  });
  function add(e) {
    const d = isNewsChange(e) ? describeNews(e) : { head: e.author ? e.author.name : 'News', text: (e.body && e.body.text) || '' };
    list.prepend(h('li', { class: 'msg' }, h('span', { class: 'who' }, d.head), h('span', { class: 'text' }, d.text), ' ', h('time', { class: 'at' }, fmtTime(e.time))));
  }
  for (const e of sub.events) add(e);
  if (!sub.events.length) list.append(h('li', { class: 'muted' }, 'No news yet.'));
  return { el: box, dispose: sub.unsubscribe };
}

export async function render(main, params, query) {
  const id = Number(params.id);
  const tab = params.tab || 'chat';
  const { event, members, stale } = await loadEvent(id);
  const disposers = [];
  main.append(eventHeader(event, stale), roomTabs(event, tab));
  const onNews = (ev) => {
    if (ev.detail.channel === `event:${id}:news`) {
      api.get(`/api/events/${id}`).then((fresh) => {
        const head = main.querySelector('.room-head');
        if (head) head.replaceWith(eventHeader(fresh, false));
      }).catch(() => {});
    }
  };
  document.addEventListener('classhub:news', onNews);
  disposers.push(() => document.removeEventListener('classhub:news', onNews));

  const layout = h('div', { class: 'room' });
  const content = h('div', { class: 'room-main' });
  const here = attendance(event, members);
  disposers.push(here.dispose);
  layout.append(content, here.el);
  main.append(layout);
  // Presence comes with any channel of the event subscribed with presence: true.
  const presenceSub = await session.rt.subscribe(`event:${id}:news`, () => {}, { presence: true });
  disposers.push(presenceSub.unsubscribe);

  if (tab === 'chat') {
    const controls = await createRoomControls(id);
    const chat = createChat(`event:${id}:chat`, { label: 'Message to everyone', readOnly: reviewing(event) ? REVIEW_NOTICE : '', names: new Map(members.map((m) => [m.user_id, m.display_name])), decorate: controls.decorate, onEvent: controls.onEvent });
    content.append(h('h2', {}, 'Chat'), controls.el, chat.el);
    disposers.push(chat.dispose, controls.dispose);
    await chat.start();
  } else if (tab === 'board') {
    const { createBoard } = await import('../board.js');
    const board = await createBoard(event, members);
    content.append(board.el);
    disposers.push(board.dispose);
  } else if (tab === 'activities') {
    const { createActivities } = await import('../activities.js');
    const panel = await createActivities(event);
    content.append(panel.el);
    disposers.push(panel.dispose);
  } else if (tab === 'qa') {
    const { createQa } = await import('../qa.js');
    const qa = await createQa(event, { reviewing: reviewing(event) });
    content.append(qa.el);
    disposers.push(qa.dispose);
  } else if (tab === 'people') {
    content.append(peopleTab(event, members));
  } else if (tab === 'groups') {
    content.append(await groupsTab(event, members, query, disposers));
  } else if (tab === 'media') {
    const { mediaTab } = await import('./media.js');
    content.append(await mediaTab(event));
  } else if (tab === 'news') {
    const news = await newsTab(event);
    content.append(news.el);
    disposers.push(news.dispose);
  } else {
    content.append(h('p', {}, 'Unknown section.'));
  }
  // Consent to appear in the event's photos and videos: asked on first entry.
  if (!stale) import('./media_consent.js').then((m) => m.askOnFirstEntry(event, content)).catch(() => {});
  return () => { for (const d of disposers.reverse()) d(); };
}
