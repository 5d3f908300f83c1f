// Me: my stored data, profile correction and visibility, password, photo, export, terminate / reactivate.
import { h, replace, field, toast, fmtTime, ask } from '../dom.js';
import * as api from '../api.js';
import { session, signOut, startSession } from '../session.js';

function profileForm(profile, onSaved) {
  const name = h('input', { name: 'display_name', required: true, maxlength: 120, value: profile.display_name });
  const bio = h('textarea', { name: 'profile_bio', rows: 3, maxlength: 2000 });
  bio.value = profile.profile_bio || '';
  const phone = h('input', { name: 'phone', type: 'tel', maxlength: 40, value: profile.phone || '' });
  const org = h('input', { name: 'organisation', maxlength: 200, value: profile.organisation || '' });
  const visible = h('input', { type: 'checkbox', id: 'profile-public', checked: Boolean(profile.profile_public) });
  const info = h('input', { type: 'checkbox', id: 'info-mail', checked: profile.wants_information_mail !== false });
  const form = h('form', { class: 'card' },
    h('h2', {}, 'Profile'),
    field('Name', name),
    field('About me (brief profile)', bio),
    field('Phone', phone, 'Only trainers and admins of your events see it.'),
    field('Organisation', org),
    h('div', { class: 'check' }, visible, h('label', { for: 'profile-public' }, 'Show my brief profile (name, photo, about me) to co-participants')),
    h('div', { class: 'check' }, info, h('label', { for: 'info-mail' }, 'Receive information mail (service mail always arrives)')),
    h('button', { type: 'submit', class: 'primary' }, 'Save profile'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const out = await api.patch('/api/me/profile', {
        display_name: name.value, profile_bio: bio.value, phone: phone.value, organisation: org.value,
        profile_public: visible.checked, wants_information_mail: info.checked,
      });
      toast('Profile saved');
      onSaved(out);
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  return form;
}

function passwordCard() {
  const current = h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true, minlength: 10 });
  const repeat = h('input', { type: 'password', name: 'repeat_password', autocomplete: 'new-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = h('form', { class: 'card', 'aria-labelledby': 'password-title' },
    h('h2', { id: 'password-title' }, 'Password'),
    field('Current password', current),
    field('New password', next, 'At least 10 characters, not a common password and not your name or email address; a few unrelated words work well.'),
    field('Repeat the new password', repeat),
    h('p', { class: 'muted' }, 'Your other devices and browsers are signed out; this one stays signed in.'),
    error,
    button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    if (next.value !== repeat.value) {
      error.textContent = 'The two new passwords differ.';
      repeat.focus();
      return;
    }
    button.disabled = true;
    try {
      const out = await api.post('/api/me/password', { current_password: current.value, new_password: next.value });
      form.reset();
      const others = out.sessions_ended === 1 ? '1 other session' : `${out.sessions_ended} other sessions`;
      toast(`Password changed; ${others} signed out`);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function photoCard(profile) {
  const file = h('input', { type: 'file', accept: 'image/png,image/jpeg,image/webp', name: 'photo' });
  const img = profile.has_photo ? h('img', { src: `/api/users/${profile.id}/photo?t=${Date.now()}`, alt: 'My profile photo', class: 'avatar' }) : h('p', { class: 'muted' }, 'No photo.');
  const card = h('section', { class: 'card' }, h('h2', {}, 'Profile photo (optional)'), img, field('New photo', file),
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: async () => {
        const f = file.files && file.files[0];
        if (!f) { toast('Choose a file first'); return; }
        try {
          const r = await fetch('/api/me/photo', { method: 'PUT', body: f, headers: { 'Content-Type': f.type || 'image/jpeg', 'X-CSRF-Token': session.me.csrf_token } });
          if (!r.ok) throw new Error((await r.json()).error.message);
          toast('Photo saved');
          dispatchEvent(new PopStateEvent('popstate'));
        } catch (err) { toast(err.message, 'error'); }
      } }, 'Upload photo'),
      profile.has_photo ? h('button', { type: 'button', class: 'danger', onclick: async () => {
        try { await api.del('/api/me/photo'); toast('Photo removed'); dispatchEvent(new PopStateEvent('popstate')); } catch (err) { toast(err.message, 'error'); }
      } }, 'Remove photo') : null));
  return card;
}

function dataCard(data) {
  const sections = Object.entries(data).filter(([k]) => k !== 'profile');
  return h('section', { class: 'card' },
    h('h2', {}, 'My data'),
    h('p', {}, 'Everything classhub stores about you. ', h('a', { href: '/api/me/export', download: 'classhub-my-data.zip' }, 'Download all of it (zip)')),
    sections.map(([key, value]) => {
      const items = Array.isArray(value) ? value : (value && value.items) || [];
      const count = Array.isArray(value) || (value && value.items) ? items.length : null;
      return h('details', {},
        h('summary', {}, `${key.replace(/_/g, ' ')}${count !== null ? ` (${count})` : ''}`),
        h('pre', { class: 'data' }, JSON.stringify(value, null, 2)));
    }));
}

function lifecycleCard(profile) {
  if (profile.status === 'terminating') {
    return h('section', { class: 'card danger-zone' },
      h('h2', {}, 'Your account is terminating'),
      h('p', {}, `It will be deleted after ${fmtTime(profile.delete_after)}. Until then you can reactivate it.`),
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', onclick: async () => {
        try {
          await api.post('/api/me/reactivate');
          const me = await api.get('/api/me');
          await startSession(me);
          toast('Welcome back: your account is active again');
          dispatchEvent(new PopStateEvent('popstate'));
        } catch (err) { toast(err.message, 'error'); }
      } }, 'Reactivate my account'),
      // The grace month is for changing one's mind either way: deletion need not wait for it.
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        const v = await ask('Delete your account now', [
          { name: 'password', label: 'Your password (to confirm it is you)', type: 'password', required: true },
          { name: 'erase', label: 'Also blank the text of contributions others replied to', type: 'select', options: [['no', 'No, keep the text'], ['yes', 'Yes, blank it']], value: 'no' },
        ], 'Delete now, no way back');
        if (!v) return;
        try {
          await api.post('/api/me/terminate', { password: v.password, erase_content: v.erase === 'yes', immediately: true });
          toast('Your account is deleted');
          await signOut();
        } catch (err) { toast(err.message, 'error'); }
      } }, 'Delete my account now')));
  }
  return h('section', { class: 'card danger-zone' },
    h('h2', {}, 'Terminate my account'),
    h('p', {}, 'Your account is locked at once and deleted after one month; within that month you can sign in and reactivate it. Notes and messages that others replied to stay in their chain as “former participant”.'),
    h('button', { type: 'button', class: 'danger', onclick: async () => {
      const v = await ask('Terminate your account', [
        { name: 'password', label: 'Your password (to confirm it is you)', type: 'password', required: true },
        { name: 'erase', label: 'Also blank the text of contributions others replied to', type: 'select', options: [['no', 'No, keep the text'], ['yes', 'Yes, blank it']], value: 'no' },
        { name: 'when', label: 'When', type: 'select', options: [['later', 'After the grace month'], ['now', 'Delete now, no way back']], value: 'later' },
      ], 'Terminate');
      if (!v) return;
      try {
        await api.post('/api/me/terminate', { password: v.password, erase_content: v.erase === 'yes', immediately: v.when === 'now' });
        toast('Your account is terminated');
        await signOut();
      } catch (err) { toast(err.message, 'error'); }
    } }, 'Terminate my account'));
}

export async function render(main) {
  main.append(h('h1', {}, 'Me'));
  let data;
  try {
    data = (await api.cachedGet('/api/me/data')).data;
  } catch (err) {
    main.append(h('p', { class: 'error' }, `Your data cannot be shown: ${err.message}`));
    return null;
  }
  const profile = data.profile;
  const grid = h('div', { class: 'me-grid' });
  const redraw = (p) => { Object.assign(profile, p); session.me.display_name = p.display_name; };
  if (profile.status === 'terminating') {
    grid.append(lifecycleCard(profile));
  } else {
    const { restrictionCard } = await import('./me_restriction.js');
    grid.append(profileForm(profile, redraw), passwordCard(), photoCard(profile), restrictionCard(data), lifecycleCard(profile));
  }
  grid.append(dataCard(data));
  main.append(grid);
  return null;
}
