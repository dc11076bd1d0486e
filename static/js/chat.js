// Chat orchestration: friends, conversations, keys, delivery. No DOM: the UI listens to the
// events below and calls the methods (its intents). Messages are decrypted here with the
// keyring; failures become visible "could not decrypt" items, never silent drops.
//
// Events (CustomEvent.detail):
//   'friends'      {}                         friend list, requests or a row changed
//   'messages'     {friendId, reason}         a conversation changed: reset | append | prepend | update
//   'typing'       {friendId, on}
//   'notify'       {friend, message}          an incoming message the user is not looking at
//   'error'        {message}                  something the user should know
//   'session'      {reason}                   the session ended or this device lacks keys

import * as defaultCrypto from './crypto.js';
import { safeFileName } from './encoding.js';
import { EVENTS } from './transport.js';
import { onReconnect, Outbox, STATUS, Syncer } from './outbox.js';
import { judge, mergePeers, peersFromRecords, TRUST } from './pins.js';
import { acceptPeerKeys } from './session.js';
import { MessageList, previewText } from './timeline.js';

const PAGE = 50;
const TYPING_SHOWN_MS = 7000;
const TYPING_RESEND_MS = 3000;
const TYPING_IDLE_MS = 4000;
const PREFETCH_CONCURRENCY = 3;
const MAX_PREVIEW_BYTES = 20 * 1000 * 1000;
/** Image types shown inline; anything else (SVG included) is offered as a download. */
export const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp']);

/** Validate a decrypted plaintext (§5) into the fields a message shows. */
export function readPlain(plain) {
  if (plain?.t === 'text' && typeof plain.body === 'string') {
    return { kind: 'text', body: plain.body, sent: Number.isFinite(plain.sent) ? plain.sent : null };
  }
  if (plain?.t === 'file' && typeof plain.blob === 'string' && typeof plain.key === 'string'
    && typeof plain.n === 'string' && typeof plain.sha256 === 'string') {
    return {
      kind: 'file',
      file: {
        name: safeFileName(plain.name),
        mime: typeof plain.mime === 'string' ? plain.mime.toLowerCase().slice(0, 100) : 'application/octet-stream',
        size: Number.isFinite(plain.size) ? plain.size : null,
        blob: plain.blob,
        key: plain.key,
        n: plain.n,
        sha256: plain.sha256,
      },
    };
  }
  return { kind: 'error', error: 'This message has a format this app does not know.' };
}

/** A send refused because of a friend's key: unconfirmed key change, or a key that failed its check. */
export class KeyChangeError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'KeyChangeError';
    this.code = code;
  }
}

export class ChatClient extends EventTarget {
  /**
   * @param {{me: {id: number, username: string, keyId: string|null}, api: import('./api.js').Api,
   *   store: import('./store.js').Store, transport: import('./transport.js').Transport,
   *   keyring: import('./keyring.js').Keyring, crypto?: object, now?: () => number,
   *   acceptInVault?: (peers: Map<number, Set<string>>, password: string) => Promise<Map<number, Set<string>>>}} deps
   *   acceptInVault: save accepted key ids in the vault (session.acceptPeerKeys)
   */
  constructor({ me, api, store, transport, keyring, crypto = defaultCrypto, now = () => Date.now(), acceptInVault = null }) {
    super();
    this.acceptInVault = acceptInVault
      || ((peers, password) => acceptPeerKeys({ api, store, crypto }, { username: me.username, password, peers }));
    this.pins = new Map(); // friend id → Set of accepted key ids (PROTOCOL §6)
    this.keyWarnings = new Map(); // friend id → {pending: Set of unaccepted ids, rejected: Set of ids that failed the check}
    keyring.onRejected = (userId, keyId) => this.warnKey(userId, { rejected: keyId });
    this.me = me;
    this.api = api;
    this.store = store;
    this.transport = transport;
    this.keyring = keyring;
    this.crypto = crypto;
    this.now = now;
    this.friends = new Map();
    this.incoming = [];
    this.outgoing = [];
    this.conversations = new Map();
    this.activeId = null;
    this.reading = false;
    this.uploads = new Map(); // cid → {friendId, file} of attachments not yet sent
    this.attachments = new Map(); // blob id → {friendId, job: Promise<{url, bytes}>}
    this.previews = new Map(); // friend id → Set of own file records holding a local blob: URL
    this.ended = false;
    this.typingOut = { to: null, at: 0, timer: null };
    this.pendingReads = new Map(); // friend id → up_to not yet acknowledged
    this.seq = 0;
    this.request = (name, data) => this.transport.request(name, data);
    this.syncer = new Syncer({ store, request: this.request, deliver: (envs) => this.ingest(envs, 'sync') });
    this.outbox = new Outbox({
      store,
      request: this.request,
      onStatus: (cid, status, item) => this.onOutboxStatus(cid, status, item),
      onUnauthorized: () => this.emit('session', { reason: 'unauthorized' }),
      sealedWithHeldKey: (env) => this.keyring.own.has(env.sk),
    });
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  fail(err, fallback = 'Something went wrong.') {
    if (err?.code === 'unauthorized') {
      this.emit('session', { reason: 'unauthorized' });
      return;
    }
    this.emit('error', { message: err?.message || fallback, code: err?.code || null });
  }

  // --- start-up ----------------------------------------------------------------------

  /** Load keys and local state, show it, then talk to the server. */
  async start() {
    if (!(await this.keyring.load(this.me.keyId))) {
      this.emit('session', { reason: 'no_keys' });
      return false;
    }
    this.pins = peersFromRecords(await this.store.peerRecords());
    await this.restoreSnapshot();
    await this.restoreOutbox();
    this.bindTransport();
    this.refresh().catch((err) => this.backgroundError(err));
    await this.transport.connect();
    return true;
  }

  backgroundError(err) {
    if (err?.code === 'offline' || err?.code === 'timeout') return; // the connection state says it
    this.fail(err);
  }

  bindTransport() {
    const t = this.transport;
    t.on('connect', () => this.onConnected().catch((err) => this.backgroundError(err)));
    t.on('refused', () => this.onRefused());
    t.on('state', (state) => this.onConnectionState(state));
    t.on(EVENTS.MESSAGE, (env) => this.onLiveMessage(env));
    t.on(EVENTS.PRESENCE, (data) => this.onPresence(data));
    t.on(EVENTS.FRIENDS, () => this.refresh().catch((err) => this.backgroundError(err)));
    t.on(EVENTS.KEY_CHANGED, (data) => this.onKeyChanged(data).catch((err) => this.backgroundError(err)));
    t.on(EVENTS.SIGNED_OUT, () => this.emit('session', { reason: 'signed_out' }));
    t.on(EVENTS.TYPING, (data) => this.onTyping(data));
    t.on(EVENTS.READ, (data) => this.onRead(data));
  }

  /** PROTOCOL §8: sync from the cursor, then resend the outbox; then catch up the rest. */
  async onConnected() {
    await onReconnect({ syncer: this.syncer, outbox: this.outbox });
    for (const [friendId, upTo] of this.pendingReads) this.sendRead(friendId, upTo);
    await this.refresh();
    const conv = this.activeId !== null ? this.conversations.get(this.activeId) : null;
    if (conv && !conv.loaded) await this.loadNewest(this.activeId);
  }

  /** While disconnected nobody's presence is known: show friends as offline until resync. */
  onConnectionState(state) {
    if (state === 'connected') return;
    let changed = false;
    for (const friend of this.friends.values()) {
      if (friend.online || friend.typing) changed = true;
      friend.online = false;
      friend.typing = false;
    }
    if (changed) {
      this.emit('friends');
      if (this.activeId !== null) this.emit('typing', { friendId: this.activeId, on: false });
    }
  }

  async onRefused() {
    if (this.ended) return;
    try {
      await this.api.me();
      setTimeout(() => this.transport.retryNow(), 2000);
    } catch (err) {
      if (err.code === 'unauthorized') this.emit('session', { reason: 'unauthorized' });
      else setTimeout(() => this.transport.retryNow(), 5000);
    }
  }

  async restoreSnapshot() {
    const snapshot = await this.store.getMeta('snapshot', null);
    if (!snapshot) return;
    this.applyFriends(snapshot.listing, { fromSnapshot: true });
    this.applyConversations(snapshot.conversations || []);
    for (const friend of this.friends.values()) friend.online = false;
    this.emit('friends');
  }

  async restoreOutbox() {
    for (const item of await this.outbox.items()) {
      const env = { ...item.envelope, from: this.me.id };
      const message = await this.toMessage(env);
      const conv = this.conv(env.to);
      conv.list.upsert({ ...message, id: null, ts: null, created: item.created, seq: item.seq, status: item.status, error: item.error });
      this.touchFriend(env.to, conv);
    }
  }

  // --- friends -----------------------------------------------------------------------

  /** Fetch friends and conversation summaries; join new pair rooms; prefetch previews. */
  async refresh() {
    const before = new Set(this.friends.keys());
    const listing = await this.api.friends();
    this.applyFriends(listing);
    let summaries = [];
    try {
      summaries = (await this.api.conversations()).conversations || [];
    } catch (err) {
      if (err.code !== 'not_found') throw err;
    }
    this.applyConversations(summaries);
    await this.checkPeerKeys();
    this.warmKeys();
    for (const id of this.friends.keys()) {
      if (!before.has(id) && this.transport.connected) this.request(EVENTS.JOIN, { friend: id }).catch(() => {});
    }
    if (this.activeId !== null && !this.friends.has(this.activeId)) this.open(null);
    await this.store.setMeta('snapshot', {
      listing: { friends: [...this.friends.values()].map(snapshotFriend), incoming: this.incoming, outgoing: this.outgoing },
      conversations: summaries,
    });
    this.emit('friends');
    this.prefetch();
  }

  applyFriends(listing, { fromSnapshot = false } = {}) {
    const next = new Map();
    for (const f of listing.friends || []) {
      const old = this.friends.get(f.id);
      if (old && old.key_id !== f.key_id) this.keyring.forgetPeer(f.id);
      next.set(f.id, {
        unread: 0, lastId: 0, lastTs: null, readUpTo: 0, peerReadUpTo: 0, preview: '', typing: false,
        ...old,
        keyWarning: this.keyWarnings.get(f.id) || null,
        id: f.id, username: f.username, since: f.since, key_id: f.key_id ?? null,
        online: fromSnapshot ? false : Boolean(f.online),
      });
    }
    this.friends = next;
    this.incoming = listing.incoming || [];
    this.outgoing = listing.outgoing || [];
  }

  applyConversations(summaries) {
    for (const s of summaries) {
      const friend = this.friends.get(s.friend);
      if (!friend) continue;
      friend.unread = this.isReading(s.friend) ? 0 : s.unread || 0;
      friend.readUpTo = Math.max(friend.readUpTo, s.read_up_to || 0);
      if ((s.last_id || 0) >= friend.lastId) {
        friend.lastId = s.last_id || 0;
        friend.lastTs = s.last_ts || friend.lastTs;
      }
      friend.peerReadUpTo = Math.max(friend.peerReadUpTo, s.peer_read_up_to || 0);
      const conv = this.conversations.get(s.friend);
      if (conv) conv.list.setPeerRead(friend.peerReadUpTo);
    }
  }

  /**
   * PROTOCOL §6: each friend's current key must be one the user accepted. The first key of a
   * friend with none accepted yet is trusted on first use; any other is a key change.
   */
  async checkPeerKeys() {
    for (const friend of this.friends.values()) {
      if (!friend.key_id) continue; // waiting for them to log in again
      const accepted = this.pins.get(friend.id);
      const verdict = judge(accepted, friend.key_id);
      if (verdict === TRUST.FIRST_USE) {
        this.pins.set(friend.id, new Set([friend.key_id]));
        await this.store.setPeer(friend.id, { accepted: [friend.key_id], synced: false });
      } else if (verdict === TRUST.CHANGED) {
        this.warnKey(friend.id, { pending: friend.key_id });
      }
      this.markUnverified(friend.id);
    }
  }

  /** Show the key warning for a friend: a key id outside the accepted set, or one that failed its check. */
  warnKey(friendId, { pending = null, rejected = null }) {
    let warning = this.keyWarnings.get(friendId);
    if (!warning) {
      warning = { pending: new Set(), rejected: new Set() };
      this.keyWarnings.set(friendId, warning);
    }
    const before = warning.pending.size + warning.rejected.size;
    if (pending) warning.pending.add(pending);
    if (rejected !== null) warning.rejected.add(rejected);
    const friend = this.friends.get(friendId);
    if (friend) friend.keyWarning = warning;
    if (warning.pending.size + warning.rejected.size !== before) this.emit('friends');
  }

  /** Mark a friend's messages sent under a key the user has not accepted (and warn about it). */
  markUnverified(friendId) {
    const conv = this.conversations.get(friendId);
    if (!conv) return;
    const accepted = this.pins.get(friendId);
    let changed = false;
    for (const message of conv.list.list()) {
      if (message.out || !message.sk || message.kind === 'error' || message.kind === 'pending') continue;
      const unverified = judge(accepted, message.sk) !== TRUST.ACCEPTED;
      if (unverified && accepted?.size) this.warnKey(friendId, { pending: message.sk });
      if (Boolean(message.unverified) !== unverified) {
        message.unverified = unverified;
        changed = true;
      }
    }
    if (changed) this.emit('messages', { friendId, reason: 'update' });
  }

  /** True while a friend's key warning is unanswered: sending then needs the user's confirmation. */
  needsKeyConfirmation(friendId) {
    return Boolean(this.keyWarnings.get(friendId)?.pending.size);
  }

  /** Fetch friends' current public keys now, so writing works offline later. */
  warmKeys() {
    for (const friend of this.friends.values()) {
      if (friend.key_id) this.keyring.peerPublic(friend.id, friend.key_id).catch(() => {});
    }
  }

  /**
   * The user accepts a friend's changed key (after comparing safety numbers): the current key
   * and every key id the warning names join the accepted set, in the vault, so every device
   * of the user trusts them. Needs the password (the vault is written with `auth`).
   */
  async acceptKeys(friendId, password) {
    const friend = this.friends.get(friendId);
    const warning = this.keyWarnings.get(friendId);
    const ids = new Set(warning ? warning.pending : []);
    if (friend?.key_id && !warning?.rejected.has(friend.key_id)) ids.add(friend.key_id);
    const saved = await this.acceptInVault(mergePeers(this.pins, new Map([[friendId, ids]])), password);
    this.pins = mergePeers(this.pins, saved);
    if (warning) {
      for (const id of ids) warning.pending.delete(id);
      if (!warning.pending.size && !warning.rejected.size) this.keyWarnings.delete(friendId);
    }
    if (friend) friend.keyWarning = this.keyWarnings.get(friendId) || null;
    this.markUnverified(friendId);
    this.emit('friends');
    this.emit('messages', { friendId, reason: 'update' });
  }

  async onKeyChanged({ user } = {}) {
    if (user === this.me.id) {
      const { user: me } = await this.api.me();
      if (me.key_id && !this.keyring.own.has(me.key_id)) {
        this.emit('error', { message: 'Your key changed on another device. Log in again here to read new messages.', sticky: true });
      }
      return;
    }
    this.keyring.forgetPeer(user);
    await this.refresh();
    if (this.friends.get(user)?.keyWarning) this.emit('messages', { friendId: user, reason: 'update' });
  }

  onPresence({ user, online } = {}) {
    const friend = this.friends.get(user);
    if (!friend) return;
    friend.online = Boolean(online);
    if (!friend.online) friend.typing = false;
    this.emit('friends');
    if (user === this.activeId) this.emit('typing', { friendId: user, on: friend.typing });
  }

  async searchUsers(prefix) {
    const q = prefix.trim().toLowerCase();
    if (!q) return [];
    const { users } = await this.api.searchUsers(q);
    return users.map((u) => ({ ...u, relation: this.relationTo(u.id) }));
  }

  relationTo(userId) {
    if (this.friends.has(userId)) return 'friend';
    if (this.incoming.some((r) => r.id === userId)) return 'incoming';
    if (this.outgoing.some((r) => r.id === userId)) return 'outgoing';
    return 'none';
  }

  async requestFriend(username) {
    const answer = await this.api.requestFriend(username);
    await this.refresh();
    return answer.status;
  }

  async acceptFriend(userId) {
    await this.api.acceptFriend(userId);
    await this.refresh();
  }

  /** Decline, cancel or unfriend. */
  async removeFriend(userId, { forget = false } = {}) {
    await this.api.removeFriend(userId);
    if (forget) {
      this.conversations.delete(userId);
      await this.store.forgetConversation(userId);
    }
    await this.refresh();
  }

  // --- conversations -------------------------------------------------------------------

  conv(friendId) {
    let conv = this.conversations.get(friendId);
    if (!conv) {
      conv = {
        friendId,
        list: new MessageList({ me: this.me.id, peer: friendId }),
        loaded: false,
        fromCache: false,
        hasMore: true,
        loadingOlder: false,
        loading: null,
      };
      conv.list.setPeerRead(this.friends.get(friendId)?.peerReadUpTo || 0);
      this.conversations.set(friendId, conv);
    }
    return conv;
  }

  /** Show a conversation (null closes it). Loads its newest page the first time. */
  async open(friendId) {
    this.stopTyping();
    if (friendId !== this.activeId) this.releaseAttachments(friendId);
    this.activeId = friendId;
    this.emit('messages', { friendId, reason: 'reset' });
    this.emit('friends');
    if (friendId === null) return;
    const conv = this.conv(friendId);
    if (!conv.loaded) await this.loadNewest(friendId);
    this.markRead(friendId);
  }

  /** Fetch the newest page over HTTP; fall back to cached envelopes when offline. */
  loadNewest(friendId) {
    const conv = this.conv(friendId);
    if (conv.loading) return conv.loading;
    conv.loading = (async () => {
      try {
        if (conv.list.size === 0) {
          const cached = await this.store.cachedEnvelopes(friendId, { limit: PAGE });
          if (cached.length) {
            await this.ingest(cached, 'cache');
            conv.fromCache = true;
            conv.hasMore = true;
            this.emit('messages', { friendId, reason: 'reset' });
          }
        }
        let page;
        try {
          page = await this.api.messages(friendId, { limit: PAGE });
        } catch (err) {
          if (err.code === 'offline') return;
          throw err;
        }
        if (conv.fromCache && page.more && page.messages.length) {
          // Cached messages older than this page may have a gap behind them: drop them.
          const oldest = page.messages[0].id;
          for (const m of [...conv.list.list()]) if (m.id != null && m.id < oldest) conv.list.remove(m.key);
        }
        await this.ingest(page.messages, 'history');
        conv.loaded = true;
        conv.fromCache = false;
        conv.hasMore = page.more;
        conv.loading = null; // before rendering, or an empty conversation shows "Loading messages…" for good
        this.emit('messages', { friendId, reason: 'reset' });
        if (friendId === this.activeId) this.markRead(friendId);
      } catch (err) {
        this.backgroundError(err);
      } finally {
        if (conv.loading) { // offline or failed: render again so the status does not keep saying "Loading"
          conv.loading = null;
          this.emit('messages', { friendId, reason: 'update' });
        }
      }
    })();
    return conv.loading;
  }

  /** Infinite scroll: one older page (HTTP, or the local cache when offline). */
  async loadOlder(friendId) {
    const conv = this.conv(friendId);
    if (conv.loadingOlder || !conv.hasMore || conv.loading) return false;
    const before = conv.list.oldestId();
    if (!before) {
      conv.hasMore = false;
      return false;
    }
    conv.loadingOlder = true;
    this.emit('messages', { friendId, reason: 'loading' });
    try {
      let envs;
      let more;
      try {
        const page = await this.api.messages(friendId, { before, limit: PAGE });
        envs = page.messages;
        more = page.more;
      } catch (err) {
        if (err.code !== 'offline') throw err;
        envs = await this.store.cachedEnvelopes(friendId, { before, limit: PAGE });
        more = envs.length === PAGE;
      }
      await this.ingest(envs, conv.fromCache ? 'cache' : 'history');
      conv.hasMore = more;
      return envs.length > 0;
    } catch (err) {
      this.backgroundError(err);
      return false;
    } finally {
      conv.loadingOlder = false;
      this.emit('messages', { friendId, reason: 'prepend' });
    }
  }

  /** Prefetch the newest page of conversations with activity, for previews (few at a time). */
  prefetch() {
    const queue = [...this.friends.values()]
      .filter((f) => f.lastId > 0 && !this.conv(f.id).loaded && !this.conv(f.id).loading)
      .sort((a, b) => (b.lastTs || 0) - (a.lastTs || 0))
      .map((f) => f.id);
    const worker = async () => {
      while (queue.length) {
        const id = queue.shift();
        await this.loadNewest(id);
        this.touchFriend(id, this.conv(id));
        this.emit('friends');
      }
    };
    for (let i = 0; i < PREFETCH_CONCURRENCY; i += 1) worker();
  }

  // --- receiving ---------------------------------------------------------------------

  onLiveMessage(env) {
    this.ingest([env], 'live')
      .then(() => (Number.isInteger(env?.id) ? this.syncer.noteLive(env.id) : null))
      .catch((err) => this.backgroundError(err));
  }

  /** Decrypt an envelope into a message; a failure is a visible error item. */
  async toMessage(env) {
    const base = { id: env.id ?? null, cid: env.cid, from: env.from, to: env.to, ts: env.ts ?? null, sk: env.sk };
    try {
      const message = { ...base, ...readPlain(await this.keyring.decrypt(env)) };
      if (env.from !== this.me.id) {
        // PROTOCOL §6: a key the user has not accepted marks the message and warns.
        const accepted = this.pins.get(env.from);
        message.unverified = judge(accepted, env.sk) !== TRUST.ACCEPTED;
        if (message.unverified && accepted?.size) this.warnKey(env.from, { pending: env.sk });
      }
      return message;
    } catch (err) {
      const reason = err?.code === 'missing_own_key' ? 'It uses one of your keys this device does not hold (for example from before a password reset).'
        : err?.code === 'unknown_key' ? 'It names a key the server does not know.'
          : 'It may have been altered, or sent with a key that changed.';
      return { ...base, kind: 'error', error: `Could not decrypt this message. ${reason}` };
    }
  }

  /**
   * Take envelopes from any source ('live', 'sync', 'history', 'cache'): de-duplicate by
   * cid and id, decrypt in order, update delivery states, unread counts and previews.
   */
  async ingest(envelopes, source) {
    const touched = new Set();
    const fresh = [];
    for (const env of envelopes || []) {
      if (!env || typeof env !== 'object' || !env.cid || !Number.isInteger(env.from) || !Number.isInteger(env.to)) continue;
      if (env.from !== this.me.id && env.to !== this.me.id) continue;
      const peer = env.from === this.me.id ? env.to : env.from;
      const conv = this.conv(peer);
      const known = conv.list.get(`${env.from}:${env.cid}`) || (env.id != null ? conv.list.byId.get(env.id) : null);
      const outgoing = env.from === this.me.id;
      let message;
      if (known && known.kind && known.kind !== 'pending') {
        ({ message } = conv.list.upsert({ id: env.id, cid: env.cid, from: env.from, to: env.to, ts: env.ts,
          status: outgoing && env.id != null ? STATUS.DELIVERED : undefined }));
      } else {
        const decrypted = await this.toMessage(env);
        const result = conv.list.upsert({ ...decrypted, status: outgoing ? STATUS.DELIVERED : undefined });
        message = result.message;
        if (result.added && !outgoing && (source === 'live' || source === 'sync')) fresh.push({ peer, message });
      }
      if (outgoing && env.id != null) {
        this.uploads.delete(env.cid);
        await this.outbox.stored(env.cid);
      }
      if (source !== 'cache' && env.id != null) touched.add(peer);
      this.touchFriend(peer, conv);
    }
    if (source !== 'cache') {
      await this.store.cacheEnvelopes((envelopes || []).filter((e) => Number.isInteger(e?.id)));
    }
    for (const { peer, message } of fresh) {
      const friend = this.friends.get(peer);
      if (!friend) continue;
      if (this.isReading(peer)) continue;
      if (message.id > friend.readUpTo) friend.unread += 1;
      this.emit('notify', { friend, message });
    }
    const affected = new Set([...touched, ...fresh.map((f) => f.peer)]);
    for (const peer of affected) {
      const reason = source === 'history' || source === 'cache' ? 'prepend' : 'append';
      this.emit('messages', { friendId: peer, reason });
      if (this.isReading(peer)) this.markRead(peer);
    }
    if (affected.size) this.emit('friends');
  }

  /** Keep the friend row's last activity and preview in step with the conversation. */
  touchFriend(friendId, conv) {
    const friend = this.friends.get(friendId);
    const last = conv.list.last();
    if (!friend || !last) return;
    const lastTs = last.ts ?? last.created ?? null;
    if (last.id != null && last.id >= friend.lastId) {
      friend.lastId = last.id;
      friend.lastTs = lastTs;
      friend.preview = previewText(last);
      friend.previewOut = last.out;
    } else if (last.id == null) {
      friend.lastTs = Math.max(friend.lastTs || 0, lastTs || 0);
      friend.preview = previewText(last);
      friend.previewOut = true;
    }
  }

  onTyping({ from, on } = {}) {
    const friend = this.friends.get(from);
    if (!friend) return;
    clearTimeout(friend.typingTimer);
    friend.typing = Boolean(on);
    if (friend.typing) {
      friend.typingTimer = setTimeout(() => this.onTyping({ from, on: false }), TYPING_SHOWN_MS);
    }
    this.emit('typing', { friendId: from, on: friend.typing });
    this.emit('friends');
  }

  onRead({ from, up_to: upTo } = {}) {
    if (!Number.isInteger(upTo)) return;
    if (from === this.me.id) {
      // My read marker from another device: the payload has no friend id, so find the message.
      for (const [friendId, conv] of this.conversations) {
        if (conv.list.hasId(upTo)) {
          const friend = this.friends.get(friendId);
          if (friend && upTo > friend.readUpTo) {
            friend.readUpTo = upTo;
            if (conv.list.newestIncomingId() <= upTo) friend.unread = 0;
            this.emit('friends');
          }
          return;
        }
      }
      return;
    }
    const friend = this.friends.get(from);
    if (!friend) return;
    friend.peerReadUpTo = Math.max(friend.peerReadUpTo, upTo);
    const changed = this.conv(from).list.setPeerRead(friend.peerReadUpTo);
    if (changed.length) this.emit('messages', { friendId: from, reason: 'update' });
  }

  // --- reading -----------------------------------------------------------------------

  /** The UI says whether the open conversation is on screen in a focused, visible tab. */
  setReading(on) {
    this.reading = Boolean(on);
    if (this.reading && this.activeId !== null) this.markRead(this.activeId);
  }

  isReading(friendId) {
    return this.reading && friendId === this.activeId;
  }

  /** Send `read {friend, up_to}` for what is on screen, once per new id. */
  markRead(friendId) {
    const friend = this.friends.get(friendId);
    if (!friend || !this.isReading(friendId)) return;
    const upTo = this.conv(friendId).list.newestIncomingId();
    const hadUnread = friend.unread > 0;
    friend.unread = 0;
    if (hadUnread) this.emit('friends');
    if (upTo > friend.readUpTo) {
      friend.readUpTo = upTo;
      this.sendRead(friendId, upTo);
    }
  }

  sendRead(friendId, upTo) {
    this.pendingReads.set(friendId, upTo);
    this.request(EVENTS.READ, { friend: friendId, up_to: upTo })
      .then((ack) => {
        if (ack?.ok && this.pendingReads.get(friendId) === upTo) this.pendingReads.delete(friendId);
      })
      .catch(() => {}); // resent after the next (re)connect
  }

  // --- typing ------------------------------------------------------------------------

  /** The user typed in the composer: tell the friend, at most every few seconds. */
  typing(friendId) {
    if (!this.friends.get(friendId)?.key_id) return;
    const t = this.typingOut;
    const now = this.now();
    if (t.to !== friendId || now - t.at > TYPING_RESEND_MS) {
      if (t.to !== null && t.to !== friendId) this.transport.notify(EVENTS.TYPING, { to: t.to, on: false });
      this.transport.notify(EVENTS.TYPING, { to: friendId, on: true });
      t.to = friendId;
      t.at = now;
    }
    clearTimeout(t.timer);
    t.timer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    const t = this.typingOut;
    clearTimeout(t.timer);
    if (t.to !== null) this.transport.notify(EVENTS.TYPING, { to: t.to, on: false });
    t.to = null;
    t.at = 0;
  }

  // --- sending -----------------------------------------------------------------------

  canSend(friendId) {
    const friend = this.friends.get(friendId);
    return Boolean(friend?.key_id && this.keyring.current());
  }

  async sendText(friendId, text, { confirmed = false } = {}) {
    if (!text.trim()) return null;
    return this.sendPlain(friendId, { t: 'text', body: text, sent: this.now() }, { confirmed });
  }

  /** Refuse to encrypt for a key that failed its check, or (unless confirmed) while a key warning is unanswered. */
  checkKeyForSending(friend, confirmed) {
    const warning = this.keyWarnings.get(friend.id);
    if (warning?.rejected.has(friend.key_id)) {
      throw new KeyChangeError(`The server gave a key for ${friend.username} that does not match its id. Nothing was sent.`, 'key_rejected');
    }
    if (warning?.pending.size && !confirmed) {
      throw new KeyChangeError(`${friend.username}’s security key changed. Confirm before sending.`, 'key_unconfirmed');
    }
  }

  /** Encrypt for the friend's current key, show at once as "sending", queue in the outbox. */
  async sendPlain(friendId, plain, { cid = null, confirmed = false } = {}) {
    const friend = this.friends.get(friendId);
    if (!friend) throw new Error('You can only write to a friend.');
    if (!friend.key_id) throw new Error(`${friend.username} has no key yet: wait until they log in again.`);
    this.checkKeyForSending(friend, confirmed);
    this.stopTyping();
    const env = await this.keyring.encryptFor(friendId, friend.key_id, plain, cid);
    return this.queue(friendId, env, plain);
  }

  async queue(friendId, env, plain) {
    const conv = this.conv(friendId);
    const created = this.now();
    this.seq += 1;
    conv.list.upsert({ id: null, ts: null, cid: env.cid, from: this.me.id, to: friendId, created, seq: created * 1000 + this.seq,
      status: STATUS.SENDING, ...readPlain(plain) });
    this.touchFriend(friendId, conv);
    this.emit('messages', { friendId, reason: 'append', own: true });
    this.emit('friends');
    await this.outbox.add(env);
    return env.cid;
  }

  onOutboxStatus(cid, status, item) {
    const friendId = item?.envelope?.to;
    const conv = this.conversations.get(friendId);
    if (!conv) return;
    const message = conv.list.setStatus(cid, status, { id: item.id ?? null, ts: item.ts ?? null, error: item.error });
    if (!message) return;
    if (status === STATUS.SENT) this.touchFriend(friendId, conv);
    this.emit('messages', { friendId, reason: 'update' });
    if (status === STATUS.FAILED) this.emit('error', { message: `A message to ${this.friends.get(friendId)?.username || 'a friend'} was refused: ${item.error?.message || 'unknown error'}` });
  }

  /** Retry a failed message (or a failed upload). */
  async retry(friendId, cid) {
    const upload = this.uploads.get(cid);
    if (upload && !(await this.store.outboxGet(cid))) {
      await this.sendFile(friendId, upload.file, { cid });
      return;
    }
    await this.outbox.retry(cid);
  }

  /** Give up on a failed message. */
  async discard(friendId, cid) {
    await this.outbox.discard(cid);
    this.uploads.delete(cid);
    const conv = this.conv(friendId);
    conv.list.remove(`${this.me.id}:${cid}`);
    this.emit('messages', { friendId, reason: 'update' });
  }

  /**
   * Send an attachment (§5): encrypt with a fresh file key, upload the ciphertext, then send
   * a `file` message. The item shows at once; a failed upload can be retried.
   */
  async sendFile(friendId, file, { cid = null, confirmed = false } = {}) {
    const friend = this.friends.get(friendId);
    if (!friend?.key_id) throw new Error('This friend has no key yet.');
    this.checkKeyForSending(friend, confirmed);
    const id = cid || this.crypto.newCid();
    const conv = this.conv(friendId);
    const mime = (file.type || 'application/octet-stream').toLowerCase();
    const localUrl = PREVIEWABLE.has(mime) && typeof URL?.createObjectURL === 'function' ? URL.createObjectURL(file) : null;
    this.uploads.set(id, { friendId, file });
    const created = this.now();
    this.seq += 1;
    const pending = { name: safeFileName(file.name), mime, size: file.size, localUrl, uploading: true };
    if (localUrl) this.keepPreview(friendId, pending);
    const { message, added } = conv.list.upsert({ id: null, ts: null, cid: id, from: this.me.id, to: friendId, created,
      seq: created * 1000 + this.seq, status: STATUS.SENDING, kind: 'file', file: pending });
    if (!added) { // a retried upload: show it as uploading again
      message.file = pending;
      conv.list.setStatus(id, STATUS.SENDING);
    }
    this.emit('messages', { friendId, reason: 'append', own: true });
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const sealed = await this.crypto.encryptFile(bytes);
      const { blob } = await this.api.uploadBlob(friendId, sealed.ct);
      const plain = { t: 'file', name: safeFileName(file.name), mime, size: bytes.length, blob, key: sealed.key, n: sealed.n, sha256: sealed.sha256 };
      const env = await this.keyring.encryptFor(friendId, friend.key_id, plain, id);
      const own = conv.list.get(`${this.me.id}:${id}`);
      const shown = pending.localUrl; // null when the conversation was left meanwhile (revoked)
      if (own) {
        own.file = { ...readPlain(plain).file, localUrl: shown };
        if (shown) this.keepPreview(friendId, own.file);
      }
      this.previews.get(friendId)?.delete(pending);
      if (shown) this.attachments.set(blob, { friendId, job: Promise.resolve({ url: shown }) });
      await this.outbox.add(env);
      this.touchFriend(friendId, conv);
      this.emit('friends');
    } catch (err) {
      const own = conv.list.setStatus(id, STATUS.FAILED, { error: { code: err.code || 'upload', message: err.message } });
      if (own?.file) own.file.uploading = false;
      this.emit('messages', { friendId, reason: 'update' });
      throw err;
    }
    return id;
  }

  /**
   * Download, decrypt and check an attachment; answers a blob: URL, cached per blob while its
   * conversation is shown (see releaseAttachments).
   */
  attachment(file) {
    if (file.localUrl) return Promise.resolve({ url: file.localUrl });
    if (!this.attachments.has(file.blob)) {
      const job = (async () => {
        const ct = await this.api.downloadBlob(file.blob);
        const plain = await this.crypto.decryptFile(ct, file.key, file.n, file.sha256);
        const type = PREVIEWABLE.has(file.mime) ? file.mime : 'application/octet-stream';
        return { url: URL.createObjectURL(new Blob([plain], { type })), size: plain.length };
      })();
      job.catch(() => this.attachments.delete(file.blob));
      this.attachments.set(file.blob, { friendId: this.activeId, job });
    }
    return this.attachments.get(file.blob).job;
  }

  /** Remember an own file record showing a local preview URL (revoked with its conversation). */
  keepPreview(friendId, record) {
    if (!this.previews.has(friendId)) this.previews.set(friendId, new Set());
    this.previews.get(friendId).add(record);
  }

  /**
   * Revoke the decrypted-attachment blob: URLs of every conversation but `keepFriendId`
   * (null: all): they are no longer shown, and a URL keeps its plaintext alive until revoked.
   * Shown again later, an attachment is downloaded and decrypted again.
   */
  releaseAttachments(keepFriendId = null) {
    const revoke = (url) => {
      if (typeof URL?.revokeObjectURL === 'function') URL.revokeObjectURL(url);
    };
    for (const [blob, entry] of this.attachments) {
      if (keepFriendId !== null && entry.friendId === keepFriendId) continue;
      this.attachments.delete(blob);
      entry.job.then(({ url }) => revoke(url), () => {});
    }
    for (const [friendId, records] of this.previews) {
      if (keepFriendId !== null && friendId === keepFriendId) continue;
      for (const record of records) {
        if (record.localUrl) revoke(record.localUrl);
        record.localUrl = null;
      }
      this.previews.delete(friendId);
    }
  }

  /**
   * The session ended (signed out, revoked, expired): send nothing more, close the socket,
   * revoke every decrypted URL and drop every decrypted message held in memory.
   */
  end() {
    if (this.ended) return;
    this.ended = true;
    this.outbox.stop();
    clearTimeout(this.typingOut.timer);
    this.transport.close();
    this.releaseAttachments(null);
    this.conversations.clear();
    this.friends.clear();
    this.incoming = [];
    this.outgoing = [];
    this.activeId = null;
  }

  shouldAutoload(file) {
    return PREVIEWABLE.has(file.mime) && (file.size === null || file.size <= MAX_PREVIEW_BYTES);
  }

  // --- verification ------------------------------------------------------------------

  async safetyNumber(friendId) {
    const friend = this.friends.get(friendId);
    if (!friend?.key_id) throw new Error('This friend has no key yet.');
    return this.keyring.safetyNumber(friendId, friend.key_id);
  }

  friendList() {
    return [...this.friends.values()].sort((a, b) => (b.lastTs || 0) - (a.lastTs || 0)
      || a.username.localeCompare(b.username));
  }
}

function snapshotFriend(f) {
  return { id: f.id, username: f.username, since: f.since, key_id: f.key_id, online: false };
}
