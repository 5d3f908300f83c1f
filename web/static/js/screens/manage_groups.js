// An event's learning groups on the manage screen: create one with its first members, add
// and remove members, open its chat. Trainers, organisers and admins (may_manage_groups).
import { h, field, toast, ask } from '../dom.js';
import * as api from '../api.js';

function memberChecks(members, prefix) {
  const boxes = members.map((m) => {
    const input = h('input', { type: 'checkbox', name: 'member', value: String(m.user_id), id: `${prefix}-${m.user_id}` });
    return { input, el: h('label', { class: 'check', for: input.id }, input, h('span', {}, m.display_name, h('span', { class: 'muted' }, ` (${m.role})`))) };
  });
  return { boxes, chosen: () => boxes.filter((b) => b.input.checked).map((b) => Number(b.input.value)) };
}

function createGroupForm(event, members, refresh) {
  const name = h('input', { name: 'group-name', required: true, maxlength: 120, autocomplete: 'off' });
  const checks = memberChecks(members, 'new-group');
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card manage-form', 'aria-label': 'New learning group' },
    h('h3', {}, 'New learning group'),
    field('Group name', name),
    members.length
      ? h('fieldset', {}, h('legend', {}, 'First members'), h('div', { class: 'checks' }, checks.boxes.map((b) => b.el)))
      : h('p', { class: 'muted' }, 'Enrol people first to put them in groups.'),
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Create the group'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      const g = await api.post(`/api/events/${event.id}/groups`, { name: name.value.trim(), member_ids: checks.chosen() });
      toast(`Group “${g.name}” created with ${g.members.length} member${g.members.length === 1 ? '' : 's'}`);
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

function groupCard(event, group, members, refresh) {
  const inGroup = new Set(group.members.map((m) => m.user_id));
  const chips = h('ul', { class: 'chips', 'aria-label': `Members of ${group.name}` }, group.members.map((m) => {
    const remove = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${m.display_name} from ${group.name}` }, '×');
    remove.addEventListener('click', async () => {
      const sure = await ask(`Take ${m.display_name} out of “${group.name}”?`, [], 'Take out');
      if (!sure) return;
      try {
        await api.del(`/api/groups/${group.id}/members/${m.user_id}`);
        await refresh();
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return h('li', { class: 'chip' }, m.display_name, ' ', remove);
  }));
  const others = members.filter((m) => !inGroup.has(m.user_id));
  let adder = null;
  if (others.length) {
    const pick = h('select', { name: 'add-member', 'aria-label': `Person to add to ${group.name}` },
      others.map((m) => h('option', { value: String(m.user_id) }, `${m.display_name} (${m.role})`)));
    adder = h('form', { class: 'row', 'aria-label': `Add to ${group.name}` }, pick, h('button', { type: 'submit' }, 'Add'));
    adder.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api.post(`/api/groups/${group.id}/members`, { user_id: Number(pick.value) });
        await refresh();
      } catch (err) {
        toast(err.message, 'error');
      }
    });
  }
  return h('li', { class: 'card group', dataset: { groupId: group.id } },
    h('h3', {}, group.name, h('span', { class: 'muted' }, ` (${group.members.length})`)),
    group.members.length ? chips : h('p', { class: 'muted' }, 'Nobody in this group yet.'),
    adder,
    h('p', { class: 'row' },
      h('a', { href: `/events/${event.id}/groups?group=${group.id}` }, 'Open the group chat'),
      h('a', { href: `/events/${event.id}/groups?group=${group.id}&view=board` }, 'Group pinboard')));
}

export async function groupsSection(event, members, refresh) {
  const section = h('section', { class: 'manage-groups', 'aria-label': 'Learning groups' }, h('h2', {}, 'Learning groups'));
  let groups = [];
  try {
    groups = (await api.get(`/api/events/${event.id}/groups`)).groups || [];
  } catch (err) {
    section.append(h('p', { class: 'error' }, err.message));
    return section;
  }
  section.append(
    groups.length
      ? h('ul', { class: 'cards' }, groups.map((g) => groupCard(event, g, members, refresh)))
      : h('p', { class: 'muted' }, 'No learning groups yet.'),
    createGroupForm(event, members, refresh));
  return section;
}
