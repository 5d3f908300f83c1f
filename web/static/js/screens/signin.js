import { h, field } from '../dom.js';
import * as api from '../api.js';
import { navigate } from '../nav.js';
import { startSession, session } from '../session.js';

function safeNext(query) {
  const next = query.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/events';
}

// With a provider: its button first. With password sign-in off, only the button; admins
// reach the password form at /signin?password (the break-glass, docs/integration.md).
async function showOptions(providerPart, passwordPart, query) {
  let options;
  try {
    options = await api.get('/api/signin-options');
  } catch {
    return; // an older server, or offline: the password form stays
  }
  if (options.oidc) {
    const start = `${options.oidc.start_url}?next=${encodeURIComponent(safeNext(query))}`;
    providerPart.append(h('a', { class: 'signin-oidc', href: start, 'data-server-page': '' }, `Sign in with ${options.oidc.name}`));
    if (options.password) providerPart.append(h('p', { class: 'muted' }, 'or with your email and password:'));
  }
  if (!options.password && !query.has('password')) passwordPart.hidden = true;
}

export function render(main, params, query) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const forgot = h('a', { href: '/forgot-password' }, 'Forgot password?');
  // Keep what was typed: the forgot-password form starts with the same address.
  forgot.addEventListener('click', () => { if (email.value) forgot.href = `/forgot-password?email=${encodeURIComponent(email.value)}`; });
  const passwordPart = h('div', { class: 'signin-password' },
    field('Email', email),
    field('Password', password),
    error,
    h('div', { class: 'row' }, button, forgot));
  // Filled once the server says how people sign in here (GET /api/signin-options).
  const providerPart = h('div', { class: 'signin-provider' });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    query.get('reset') ? h('p', { role: 'status' }, 'Your new password is set and you are signed out everywhere: sign in with it.') : null,
    providerPart,
    passwordPart);
  showOptions(providerPart, passwordPart, query);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      const me = await api.post('/api/login', { email: email.value, password: password.value });
      await startSession(me);
      navigate(safeNext(query), { replace: true });
    } catch (err) {
      error.textContent = err.message;
      button.disabled = false;
      password.select();
    }
  });
  main.append(form);
  if (session.me) main.append(h('p', { class: 'muted' }, `Signed in as ${session.me.display_name}.`));
  email.focus();
}
