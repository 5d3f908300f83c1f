// "Forgot password?" (/forgot-password) and the mailed link (/reset-password/<token>).
import { h, field } from '../dom.js';
import * as api from '../api.js';
import { navigate } from '../nav.js';
import { session, sessionLost } from '../session.js';

export async function render(main, params, query) {
  if (params.token) return renderReset(main, decodeURIComponent(params.token));
  return renderForgot(main, query);
}

function renderForgot(main, query) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, value: query.get('email') || '' });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Mail me a link');
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'forgot-title' },
    h('h1', { id: 'forgot-title' }, 'Forgot your password?'),
    h('p', {}, 'Enter the email address of your classhub account. We mail it a link with which you choose a new password.'),
    field('Email', email),
    error,
    h('div', { class: 'row' }, button, h('a', { href: '/signin' }, 'Back to sign in')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      await api.post('/api/password/forgot', { email: email.value });
      // The same answer whether or not the address has an account.
      form.replaceWith(h('section', { class: 'card narrow', 'aria-labelledby': 'forgot-sent', role: 'status' },
        h('h1', { id: 'forgot-sent' }, 'Check your mail'),
        h('p', {}, `If ${email.value} belongs to an active classhub account, a link to choose a new password is on its way to it. `
          + 'The link works once, for a limited time. Nothing arrived after a few minutes? Look in the spam folder, or check the address and ask again.'),
        h('p', {}, h('a', { href: '/signin' }, 'Back to sign in'))));
    } catch (err) {
      error.textContent = err.message;
      button.disabled = false;
    }
  });
  main.append(form);
  email.focus();
}

async function renderReset(main, token) {
  const intro = h('p', {}, 'Choose a new password for your classhub account.');
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 10 });
  const repeat = h('input', { type: 'password', name: 'repeat', autocomplete: 'new-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Set the new password');
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'reset-title' },
    h('h1', { id: 'reset-title' }, 'Choose a new password'),
    intro,
    field('New password', password, 'At least 10 characters, not a common password and not your name or email address; a few unrelated words work well. If the server refuses one, it says why.'),
    field('Repeat the new password', repeat),
    h('p', { class: 'muted' }, 'Setting it signs you out everywhere, on every device.'),
    error,
    button);
  try {
    const info = await api.get(`/api/password/reset/${encodeURIComponent(token)}`);
    intro.textContent = `Hello ${info.display_name}: choose a new password for your account${info.email ? ` (${info.email})` : ''}.`;
  } catch (err) {
    // Used, expired, unknown or the account is not active: say so, offer a new link.
    main.append(h('section', { class: 'card narrow', 'aria-labelledby': 'reset-title' },
      h('h1', { id: 'reset-title' }, 'This link does not work'),
      h('p', { class: 'error', role: 'alert' }, err.message),
      h('p', {}, h('a', { href: '/forgot-password' }, 'Ask for a new link'), ' · ', h('a', { href: '/signin' }, 'Sign in'))));
    return;
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
      await api.post('/api/password/reset', { token, password: password.value });
      // Every session ended, this browser's too.
      if (session.me) sessionLost();
      navigate('/signin?reset=1', { replace: true });
    } catch (err) {
      error.textContent = err.message;
      button.disabled = false;
    }
  });
  main.append(form);
  password.focus();
}
