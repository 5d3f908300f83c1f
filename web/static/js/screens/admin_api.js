// Admin > Server API: keys (make, revoke, last use), their webhook subscriptions (add, end),
// each subscription's deliveries with their status, and replay of the failed ones.
// A new key's token and a new subscription's signing secret are shown once, here.
import { html, render, nothing } from '../../vendor/lit-html/lit-html.js';
import * as api from '../api.js';
import { fmtTime, toast } from '../dom.js';

const SCOPES = ['provision', 'publish', 'read'];
const TOPICS = ['message.posted', 'note.released', 'moderation.decision', 'event.changed', 'account.deleted'];

export async function renderApiTab(box) {
  const state = { keys: [], subscriptions: [], shown: null, deliveries: null, chosen: null, error: null };

  const load = async () => {
    try {
      const data = await api.get('/api/admin/api-keys');
      state.keys = data.keys;
      state.subscriptions = data.subscriptions;
      state.error = null;
    } catch (err) {
      state.error = err.message;
    }
    draw();
  };

  const showDeliveries = async (sub, status = '') => {
    state.chosen = sub;
    const query = status ? { status } : {};
    state.deliveries = (await api.get(`/api/admin/webhooks/${sub.id}/deliveries`, query)).items;
    draw();
  };

  const createKey = async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const scopes = SCOPES.filter((s) => form.elements[`scope-${s}`].checked);
    try {
      const made = await api.post('/api/admin/api-keys', { name: form.elements.name.value.trim(), scopes });
      state.shown = { what: `API key “${made.name}”`, value: made.token };
      form.reset();
      await load();
    } catch (err) {
      toast(err.message, 'error');
    }
  };

  const revoke = async (key) => {
    if (!window.confirm(`Revoke the key “${key.name}”? Calls with it are refused from now on.`)) return;
    await api.post(`/api/admin/api-keys/${key.id}/revoke`);
    toast(`Revoked ${key.name}`);
    await load();
  };

  const subscribe = async (ev, key) => {
    ev.preventDefault();
    const form = ev.target;
    const topics = TOPICS.filter((t) => form.elements[`topic-${t}`].checked);
    try {
      const sub = await api.post(`/api/admin/api-keys/${key.id}/webhooks`, { url: form.elements.url.value.trim(), topics });
      state.shown = { what: `signing secret of webhook ${sub.id}`, value: sub.secret };
      await load();
    } catch (err) {
      toast(err.message, 'error');
    }
  };

  const unsubscribe = async (sub) => {
    if (!window.confirm(`End the webhook to ${sub.url}?`)) return;
    await api.del(`/api/admin/webhooks/${sub.id}`);
    await load();
  };

  const replay = async (sub, deliveryId) => {
    const done = await api.post(`/api/admin/webhooks/${sub.id}/replay`, deliveryId ? { delivery_id: deliveryId } : {});
    toast(`${done.replayed} deliver${done.replayed === 1 ? 'y' : 'ies'} queued again`);
    await load();
    await showDeliveries(sub);
  };

  const secretBox = () => (state.shown ? html`
    <div class="card secret-once" role="alert">
      <p>The ${state.shown.what} is shown only now. Copy it into the suite's settings:</p>
      <p><code class="secret" data-testid="shown-secret">${state.shown.value}</code></p>
      <button type="button" @click=${() => { state.shown = null; draw(); }}>I have copied it</button>
    </div>` : nothing);

  const keyForm = () => html`
    <form class="card" aria-label="New API key" @submit=${createKey}>
      <h3>New API key</h3>
      <div class="field"><label for="key-name">Name</label>
        <input id="key-name" name="name" required maxlength="80" placeholder="moodle-sync"></div>
      <fieldset class="field"><legend>Scopes</legend>
        ${SCOPES.map((s) => html`<label class="row"><input type="checkbox" name=${`scope-${s}`} ?checked=${s !== 'publish'}> ${s}</label>`)}
      </fieldset>
      <button type="submit" class="primary">Make key</button>
    </form>`;

  const subsOf = (key) => state.subscriptions.filter((s) => s.key_id === key.id);

  const hookForm = (key) => html`
    <form class="webhook-form" aria-label=${`New webhook for ${key.name}`} @submit=${(ev) => subscribe(ev, key)}>
      <input name="url" type="url" required placeholder="https://suite.example.org/hooks" aria-label="Webhook URL">
      ${TOPICS.map((t) => html`<label class="row"><input type="checkbox" name=${`topic-${t}`}> ${t}</label>`)}
      <button type="submit">Add webhook</button>
    </form>`;

  const counts = (d) => Object.entries(d || {}).map(([k, v]) => `${v} ${k}`).join(', ') || 'none yet';

  const keyRow = (key) => html`
    <li class="card api-key" data-key=${key.name}>
      <h3>${key.name} <span class="muted">${key.prefix}…</span></h3>
      <p>Scopes: ${key.scopes.join(', ')} · made ${fmtTime(key.created_at)} ·
        last used ${key.last_used_at ? fmtTime(key.last_used_at) : 'never'} ·
        <span class="key-state">${key.revoked_at ? `revoked ${fmtTime(key.revoked_at)}` : 'active'}</span></p>
      ${key.revoked_at ? nothing : html`<button type="button" class="danger" @click=${() => revoke(key)}>Revoke</button>`}
      <ul class="webhooks">
        ${subsOf(key).map((s) => html`<li>
          <span class="token">${s.url}</span> (${s.topics.join(', ') || 'ended'}) · deliveries: ${counts(s.deliveries)}
          <button type="button" @click=${() => showDeliveries(s)}>Deliveries</button>
          ${s.active ? html`<button type="button" @click=${() => replay(s)}>Replay failed</button>
            <button type="button" class="danger" @click=${() => unsubscribe(s)}>End</button>` : nothing}
        </li>`)}
      </ul>
      ${key.revoked_at ? nothing : hookForm(key)}
    </li>`;

  const deliveriesBox = () => (state.deliveries ? html`
    <section class="card" aria-label="Deliveries">
      <h3>Deliveries to ${state.chosen.url}</h3>
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">Id</th><th scope="col">Topic</th><th scope="col">Status</th><th scope="col">Attempts</th>
          <th scope="col">Last answer</th><th scope="col">Made</th><th scope="col"></th></tr></thead>
        <tbody>${state.deliveries.map((d) => html`<tr data-delivery=${d.id}>
          <td>${d.id}</td><td class="token">${d.topic}</td><td class="delivery-status">${d.status}</td><td>${d.attempts}</td>
          <td>${d.last_status_code ?? ''} ${d.last_error}</td><td>${fmtTime(d.created_at)}</td>
          <td>${d.status === 'failed' && state.chosen.active ? html`<button type="button" @click=${() => replay(state.chosen, d.id)}>Replay</button>` : nothing}</td>
        </tr>`)}</tbody>
      </table></div>
      ${state.deliveries.length ? nothing : html`<p class="muted">Nothing delivered yet.</p>`}
    </section>` : nothing);

  const draw = () => render(html`
    <h2>Server API</h2>
    <p class="muted">Keys for the suite's servers (docs/integration.md): provisioning, publishing into chats, reading history and presence, and signed webhooks.</p>
    ${state.error ? html`<p class="error">${state.error}</p>` : nothing}
    ${secretBox()}
    ${keyForm()}
    <ul class="api-keys">${state.keys.map(keyRow)}</ul>
    ${state.keys.length ? nothing : html`<p class="muted">No API keys yet.</p>`}
    ${deliveriesBox()}`, box);

  await load();
}
