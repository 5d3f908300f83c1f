// The WebSocket client: one connection, many channels, resumed with `since`.
//
// Reconnects with exponential backoff and full jitter (a classroom of phones
// coming back after a Wi-Fi drop must not hammer the server in lockstep).
// Every channel remembers the last sequence it saw and resumes from it; the
// server's "too far behind" answer makes the channel reload from scratch.
// Publishes carry a client id and stay in the IndexedDB outbox until acked,
// so a retry after a lost ack (or a page reload while offline) never
// duplicates: the server dedups by (author, client_id).
import { channelGet, channelPut, channelDrop, outboxAdd, outboxRemove, outboxAll, newClientId } from './store.js';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;
// A connection that stayed up this long resets the backoff.
const STABLE_MS = 5_000;
const SUBPROTOCOL = 'classhub.json.v1';

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

class ChannelState {
  constructor(name) {
    this.name = name;
    this.lastSeq = 0;
    this.events = [];
    this.listeners = new Set();
    this.loaded = null;
    this.saveTimer = null;
  }
}

export class Realtime {
  constructor({ onStatus, onNotice, onAuthLost } = {}) {
    this.ws = null;
    this.channels = new Map();
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.status = 'offline';
    this.onStatus = onStatus || (() => {});
    this.onNotice = onNotice || (() => {});
    this.onAuthLost = onAuthLost || (() => {});
    this.pending = new Map(); // client_id -> {resolve, reject, item}
    // Answered (acked or refused) client ids, the newest few hundred: their removal from
    // the outbox is an IndexedDB transaction that a read started earlier still misses,
    // so readers of the outbox skip these.
    this.answered = new Set();
    this.reqSeq = 0;
    this.subscribing = new Map(); // subscribe request id -> channel names, until answered
    this.openedAt = 0;
    this.flushListeners = new Set();
    this.presenceListeners = new Set();
    this.hello = null;
    window.addEventListener('online', () => this.kick());
    window.addEventListener('offline', () => { if (this.ws) this.ws.close(); });
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  setStatus(status) {
    this.status = status;
    this.onStatus(status);
  }

  // Reconnect now (the browser says the network is back).
  kick() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/ws`, [SUBPROTOCOL]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.setStatus('connecting');
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.refusals = 0;
      this.openedAt = Date.now();
      this.setStatus('online');
      this.resubscribeAll();
      this.flushOutbox();
    };
    ws.onmessage = (msg) => {
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      this.handle(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (Date.now() - this.openedAt > STABLE_MS) this.attempt = 0;
      this.setStatus('offline');
      if (ev.code === 4401) {
        this.onAuthLost(ev);
        return;
      }
      if (!opened && navigator.onLine) {
        // Refused handshakes while the network is up: typically an address that is
        // not among ALLOWED_ORIGINS (e.g. localhost vs 127.0.0.1). Say so once.
        this.refusals = (this.refusals || 0) + 1;
        if (this.refusals === 3) this.onNotice({ type: 'ws_refused' });
      }
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt);
    this.attempt = Math.min(this.attempt + 1, 20);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // --- channels -----------------------------------------------------------

  channel(name) {
    let ch = this.channels.get(name);
    if (!ch) {
      ch = new ChannelState(name);
      ch.loaded = channelGet(name).then((saved) => {
        ch.lastSeq = Math.max(ch.lastSeq, saved.lastSeq || 0);
        const known = new Set(ch.events.map((e) => e.seq));
        ch.events = saved.events.filter((e) => !known.has(e.seq)).concat(ch.events);
      }).catch(() => {});
      this.channels.set(name, ch);
    }
    return ch;
  }

  // Listen to a channel: `listener({kind:'event'|'reset', event})`. Returns the
  // events seen so far (from IndexedDB when offline) and an unsubscribe function.
  async subscribe(name, listener, { since, presence = false, history = true } = {}) {
    const ch = this.channel(name);
    await ch.loaded;
    if (presence) ch.presence = true;
    ch.wantHistory = history;
    if (since !== undefined && since !== null) {
      // A snapshot loaded over HTTP already covers everything up to `since`, and
      // nothing after it: what came meanwhile must be replayed, even from 0 (a board
      // whose snapshot was empty, and a note posted before this subscribe arrived).
      if (since > ch.lastSeq) { ch.lastSeq = since; ch.events = []; }
      ch.sinceKnown = true;
    }
    ch.listeners.add(listener);
    // A second listener rides on the existing subscription, unless it wants
    // presence, which re-runs the subscription (the server never sends an event twice).
    if (ch.listeners.size === 1 || presence) this.sendSubscribe([ch]);
    return {
      events: ch.events.slice(),
      unsubscribe: () => {
        ch.listeners.delete(listener);
        if (ch.listeners.size === 0) this.send({ type: 'unsubscribe', channels: [name] });
      },
    };
  }

  sendSubscribe(list) {
    if (!list.length) return;
    const id = `s${++this.reqSeq}`;
    if (this.subscribing.size >= 100) this.subscribing.clear();
    this.subscribing.set(id, list.map((ch) => ch.name));
    this.send({
      type: 'subscribe',
      id,
      channels: list.map((ch) => {
        const entry = { channel: ch.name };
        // since=0 asks for the whole history: sent when it is wanted, or when a snapshot
        // said the channel was empty; otherwise a fresh channel starts live (its view
        // loads history over HTTP where the feature offers it).
        if (ch.lastSeq > 0 || ch.wantHistory || ch.sinceKnown) entry.since = ch.lastSeq;
        if (ch.presence) entry.presence = true;
        return entry;
      }),
    });
  }

  resubscribeAll() {
    this.sendSubscribe([...this.channels.values()].filter((ch) => ch.listeners.size > 0));
  }

  deliver(event) {
    const ch = this.channels.get(event.channel) || this.channel(event.channel);
    if (event.seq <= ch.lastSeq) return; // a replay overlapping what we have
    ch.lastSeq = event.seq;
    ch.events.push(event);
    if (ch.events.length > 1000) ch.events.splice(0, ch.events.length - 1000);
    for (const l of ch.listeners) {
      try { l({ kind: 'event', event }); } catch (err) { console.error(err); }
    }
    clearTimeout(ch.saveTimer);
    ch.saveTimer = setTimeout(() => channelPut(ch.name, ch).catch(() => {}), 200);
  }

  // --- frames -------------------------------------------------------------

  handle(frame) {
    switch (frame.type) {
      case 'hello':
        this.hello = frame;
        break;
      case 'event':
        this.deliver(frame.event);
        break;
      case 'batch':
        for (const e of frame.events || []) this.deliver(e);
        break;
      case 'subscribed':
        this.subscribing.delete(frame.id);
        for (const answer of frame.channels || []) this.subscribed(answer);
        break;
      case 'unsubscribed':
        if (frame.reason === 'forbidden') {
          for (const name of frame.channels || []) this.notify(name, { kind: 'denied', code: 'forbidden' });
        }
        break;
      case 'ack':
        this.acked(frame);
        break;
      case 'held':
        // Answered too: the post waits for a trainer's review (room controls), not stored in
        // the channel; the same id again would get the same answer.
        this.acked(frame);
        break;
      case 'error':
        this.failed(frame);
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'pong':
        break;
      case 'presence':
        for (const l of this.presenceListeners) l(frame);
        break;
      default:
        this.onNotice(frame);
    }
  }

  notify(name, msg) {
    const ch = this.channels.get(name);
    if (!ch) return;
    for (const l of ch.listeners) {
      try { l(msg); } catch (err) { console.error(err); }
    }
  }

  subscribed(answer) {
    const ch = this.channels.get(answer.channel);
    if (!ch) return;
    if (answer.status === 'reload') {
      // `since` is too old (more than replay_limit behind) or newer than the
      // channel: nothing was replayed. Start the channel afresh. A conversation
      // takes its recent history by replaying from well within the limit; a
      // view with an HTTP snapshot (the board) reloads that instead.
      ch.events = [];
      const limit = (this.hello && this.hello.replay_limit) || 1000;
      const from = ch.wantHistory ? Math.max(0, answer.seq - Math.floor(limit / 2)) : answer.seq;
      ch.lastSeq = from;
      channelPut(ch.name, ch).catch(() => {});
      this.notify(ch.name, { kind: 'reset', seq: answer.seq });
      if (ch.wantHistory && from < answer.seq) this.sendSubscribe([ch]);
    } else if (answer.status === 'denied') {
      this.notify(ch.name, { kind: 'denied', code: answer.code });
    } else {
      this.notify(ch.name, { kind: 'subscribed', status: answer.status, seq: answer.seq });
    }
  }

  acked(frame) {
    const cid = frame.id;
    const p = this.pending.get(cid);
    this.forget(cid);
    if (p) {
      this.pending.delete(cid);
      p.resolve(frame);
    }
    const kind = frame.type === 'held' ? 'held' : 'acked';
    for (const l of this.flushListeners) l({ [kind]: cid, frame });
  }

  failed(frame) {
    const cid = frame.id;
    const names = cid && this.subscribing.get(cid);
    if (names) {
      // A subscribe refused for now (too many at once, or the store busy): ask again for
      // the channels still listened to, with what is known of them by then.
      this.subscribing.delete(cid);
      if (frame.code === 'rate_limited' || frame.code === 'unavailable') {
        const wait = Math.max(250, (frame.retry_after || 1) * 1000);
        setTimeout(() => this.sendSubscribe(names.map((n) => this.channels.get(n))
          .filter((ch) => ch && ch.listeners.size > 0)), wait);
      } else {
        this.onNotice(frame);
      }
      return;
    }
    const p = cid && this.pending.get(cid);
    if (!p) {
      this.onNotice(frame);
      return;
    }
    if (frame.code === 'rate_limited' || frame.code === 'unavailable') {
      // Safe to repeat with the same id: the server stores it once.
      const wait = Math.max(250, (frame.retry_after || 1) * 1000);
      setTimeout(() => this.sendPublish(p.item), wait);
      return;
    }
    this.pending.delete(cid);
    this.forget(cid);
    p.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code }));
    for (const l of this.flushListeners) l({ failed: cid, frame });
  }

  // Drop an answered item from the outbox, and remember it was answered.
  forget(cid) {
    if (this.answered.size >= 500) this.answered.clear();
    this.answered.add(cid);
    outboxRemove(cid).catch(() => {});
  }

  // Tell the server the user saw an event (organisers' "who has it").
  seen(channel, eventId) {
    this.send({ type: 'seen', channel, event_id: eventId });
  }

  // --- publishing ---------------------------------------------------------

  // Publish to a channel. The item is stored in the outbox first, so it
  // survives going offline (and a reload); returns {client_id, done}.
  async publish(channel, body, ref = null) {
    const item = { client_id: `c-${newClientId()}`, kind: 'ws', channel, body, ref, created: new Date().toISOString() };
    await outboxAdd(item);
    const done = new Promise((resolve, reject) => this.pending.set(item.client_id, { resolve, reject, item }));
    this.sendPublish(item);
    return { client_id: item.client_id, done };
  }

  sendPublish(item) {
    const frame = { type: 'publish', id: item.client_id, channel: item.channel, body: item.body };
    if (item.ref != null) frame.ref = item.ref;
    return this.send(frame);
  }

  async flushOutbox() {
    const items = await outboxAll().catch(() => []);
    items.sort((a, b) => (a.created < b.created ? -1 : 1));
    for (const item of items) {
      if (item.kind === 'ws' && !this.answered.has(item.client_id)) {
        if (!this.pending.has(item.client_id)) {
          this.pending.set(item.client_id, { resolve: () => {}, reject: () => {}, item });
        }
        this.sendPublish(item);
      }
    }
    for (const l of this.flushListeners) l();
  }
}
