import { h, field } from '../dom.js';
import * as api from '../api.js';
import { navigate, startSession } from '../app.js';

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
    field('New password', password, 'At least 10 characters; a few unrelated words work well.'),
    field('Repeat the password', repeat),
    error,
    button);
  try {
    const info = await api.get(`/api/invitations/${encodeURIComponent(token)}`);
    if (info && info.display_name) intro.textContent = `Hello ${info.display_name}: choose a password to finish setting up your account${info.email ? ` (${info.email})` : ''}.`;
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
