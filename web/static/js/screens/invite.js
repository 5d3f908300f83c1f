import { h, field } from '../dom.js';
import * as api from '../api.js';
import { navigate } from '../nav.js';
import { startSession } from '../session.js';

// Set a password from an invitation link (/invite/<token>).
export async function render(main, params) {
  const token = decodeURIComponent(params.token);
  const intro = h('p', {}, 'Choose a password to finish setting up your classhub account.');
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 10 });
  const repeat = h('input', { type: 'password', name: 'repeat', autocomplete: 'new-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Set password and sign in');
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'invite-title' },
    h('h1', { id: 'invite-title' }, 'Welcome to classhub'),
    intro,
    field('New password', password, 'At least 10 characters, not a common password and not your name or email address; a few unrelated words work well. If the server refuses one, it says why.'),
    field('Repeat the password', repeat),
    error,
    button);
  try {
    const info = await api.get(`/api/invitations/${encodeURIComponent(token)}`);
    if (info && info.has_password) {
      // A mailed offer to join an event, for an account that has a password already.
      renderJoin(main, token, info);
      return;
    }
    const joining = info && info.event_title ? ` and join "${info.event_title}"` : '';
    if (info && info.display_name) intro.textContent = `Hello ${info.display_name}: choose a password to finish setting up your account${info.email ? ` (${info.email})` : ''}${joining}.`;
  } catch (err) {
    if (err.status === 404 || err.status === 410) {
      error.textContent = err.message || 'This invitation is not valid any more; ask the organiser for a new one.';
      button.disabled = true;
    }
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    if (password.value !== repeat.value) {
      error.textContent = 'The two passwords differ.';
      repeat.focus();
      return;
    }
    button.disabled = true;
    try {
      const me = await api.post('/api/invitations/accept', { token, password: password.value });
      if (me && me.csrf_token) {
        await startSession(me);
        navigate('/events', { replace: true });
      } else {
        navigate('/signin', { replace: true });
      }
    } catch (err) {
      error.textContent = err.message;
      button.disabled = false;
    }
  });
  main.append(form);
  password.focus();
}

// Accept an offer to join an event (the link came by mail to the account's own address).
function renderJoin(main, token, info) {
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'button', class: 'primary' }, 'Join');
  const card = h('section', { class: 'card narrow', 'aria-labelledby': 'join-title' },
    h('h1', { id: 'join-title' }, `Join "${info.event_title}"`),
    h('p', {}, `Hello ${info.display_name}: you are invited to "${info.event_title}" as ${info.role}. `
      + 'Once you join, the event\'s trainers and organisers see your profile.'),
    error,
    button);
  button.addEventListener('click', async () => {
    button.disabled = true;
    error.textContent = '';
    try {
      await api.post('/api/invitations/join', { token });
      navigate('/events', { replace: true });
    } catch (err) {
      error.textContent = err.message;
      button.disabled = false;
    }
  });
  main.append(card);
  button.focus();
}
