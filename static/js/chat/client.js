// The chat client: friends, conversations, keys, delivery. No DOM: the UI listens to the
// events below and calls the methods (its intents). This class only composes one module per
// job (this folder) and keeps the start-up, reconnect and end-of-session order; the work is
// in the modules it names in `parts`.
//
// Events (CustomEvent.detail):
//   'friends'      {}                         friend list, requests or a row changed
//   'messages'     {friendId, reason}         a conversation changed: reset | append | prepend | update | loading
//                                            (friendId is the conversation key: a friend's id for a pair)
//   'typing'       {friendId, on}
//   'transfer'     {friendId, cid, transfer}  an own attachment's upload moved on (transfer.js phases)
//   'notify'       {friend, message}          an incoming message the user is not looking at (friend: its row)
//   'error'        {message}                  something the user should know
//   'groups'       {key, change}              a group was added, changed or is gone (PROTOCOL §9)
//   'notice'       {message}                  news the user should see once (e.g. removed from a group)
//   'session'      {reason}                   the session ended or this device lacks keys
//
// Conversation kinds: a conversation key names a conversation; kindOf(key) answers the module
// that knows that kind (pairs.js describes the questions a kind answers). Pairs are the only
// kind; groups.js the other (PROTOCOL §9), keyed 'g:<id>' so a group key never equals a
// friend's id.

import * as defaultCrypto from '../crypto.js';
import { onReconnect } from '../outbox.js';
import { acceptPeerKeys } from '../session.js';
import { EVENTS } from '../transport.js';
import { Conversations } from './conversations.js';
import { Files } from './files.js';
import { Friends } from './friends.js';
import { GroupAdmin } from './group_admin.js';
import { Groups } from './groups.js';
import { KeyTrust } from './keys.js';
import { Pairs } from './pairs.js';
import { Presence } from './presence.js';
import { Reads } from './reads.js';
import { Receiving } from './receiving.js';
import { Sending } from './sending.js';
import { Typing } from './typing.js';
import { Uploads } from './uploads.js';
import { t } from '../i18n.js';

export class ChatClient extends EventTarget {
  /**
   * @param {{me: {id: number, username: string, keyId: string|null}, api: import('../api.js').Api,
   *   store: import('../store.js').Store, transport: import('../transport.js').Transport,
   *   keyring: import('../keyring.js').Keyring, crypto?: object, now?: () => number,
   *   acceptInVault?: (peers: Map<number, Set<string>>, password: string) => Promise<Map<number, Set<string>>>}} deps
   *   acceptInVault: save accepted key ids in the vault (session.acceptPeerKeys)
   */
  constructor({ me, api, store, transport, keyring, crypto = defaultCrypto, now = () => Date.now(), acceptInVault = null }) {
    super();
    this.me = me;
    this.api = api;
    this.store = store;
    this.transport = transport;
    this.keyring = keyring;
    this.crypto = crypto;
    this.now = now;
    this.ended = false;
    this.request = (name, data) => this.transport.request(name, data);
    this.pairs = new Pairs(this);
    this.groups = new Groups(this);
    this.parts = { groups: this.groups, groupAdmin: new GroupAdmin(this) };
    const vault = acceptInVault
      || ((peers, password) => acceptPeerKeys({ api, store, crypto }, { username: me.username, password, peers }));
    Object.assign(this.parts, {
      keys: new KeyTrust(this, vault),
      friends: new Friends(this),
      presence: new Presence(this),
      conversations: new Conversations(this),
      receiving: new Receiving(this),
      sending: new Sending(this),
      files: new Files(this),
      uploads: new Uploads(this),
      typing: new Typing(this),
      reads: new Reads(this),
    });
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  fail(err, fallback = t('Something went wrong.')) {
    if (err?.code === 'unauthorized') {
      this.emit('session', { reason: 'unauthorized' });
      return;
    }
    this.emit('error', { message: err?.message || fallback, code: err?.code || null });
  }

  backgroundError(err) {
    if (err?.code === 'offline' || err?.code === 'timeout') return; // the connection state says it
    this.fail(err);
  }

  // --- conversation kinds ----------------------------------------------------------------

  /** The module that knows the conversation named `key`: groups.js for 'g:<id>', else pairs.js. */
  kindOf(key) {
    return this.groups.owns(key) ? this.groups : this.pairs;
  }

  /** The sidebar row of a conversation, or undefined. */
  rowOf(key) {
    return this.kindOf(key).row(key);
  }

  /** The conversation a received envelope belongs to, or null to ignore it. */
  keyOfEnvelope(env) {
    return env && Object.hasOwn(env, 'g') ? this.groups.keyOf(env) : this.pairs.keyOf(env);
  }

  /** The conversation an own outbox envelope belongs to. */
  keyOfOwnEnvelope(envelope) {
    return envelope && Object.hasOwn(envelope, 'g') ? this.groups.keyOfOwn(envelope) : this.pairs.keyOfOwn(envelope);
  }

  /** Everyone whose key this user tracks (§6, §9.6): friends and co-members, once each. */
  *people() {
    const seen = new Set();
    for (const friend of this.parts.friends.rows.values()) {
      seen.add(friend.id);
      yield friend;
    }
    for (const member of this.groups.coMembers()) {
      if (!seen.has(member.id)) {
        seen.add(member.id);
        yield member;
      }
    }
  }

  /** A friend or co-member by id ({id, username, key_id}), or undefined. */
  person(userId) {
    return this.parts.friends.rows.get(userId) || this.groups.coMember(userId);
  }

  // --- start-up, reconnect, end -----------------------------------------------------------

  /** Load keys and local state, show it, then talk to the server. */
  async start() {
    if (!(await this.keyring.load(this.me.keyId))) {
      this.emit('session', { reason: 'no_keys' });
      return false;
    }
    await this.parts.keys.load();
    await this.parts.friends.restoreSnapshot();
    await this.groups.restore();
    await this.parts.sending.restore();
    await this.parts.uploads.restore();
    this.bindTransport();
    this.refresh().catch((err) => this.backgroundError(err));
    await this.transport.connect();
    return true;
  }

  bindTransport() {
    const t = this.transport;
    const { friends, keys, presence, reads, receiving, typing } = this.parts;
    t.on('connect', () => this.onConnected().catch((err) => this.backgroundError(err)));
    t.on('refused', () => this.onRefused());
    // Presence was forgotten while the state said offline: ask again who is online.
    t.on('resume', () => friends.refresh().catch((err) => this.backgroundError(err)));
    t.on('state', (state) => presence.onConnectionState(state));
    t.on(EVENTS.MESSAGE, (env) => receiving.onLive(env));
    t.on(EVENTS.PRESENCE, (data) => presence.onPresence(data));
    t.on(EVENTS.FRIENDS, () => friends.refresh().catch((err) => this.backgroundError(err)));
    t.on(EVENTS.KEY_CHANGED, (data) => keys.onKeyChanged(data).catch((err) => this.backgroundError(err)));
    t.on(EVENTS.SIGNED_OUT, () => this.emit('session', { reason: 'signed_out' }));
    t.on(EVENTS.TYPING, (data) => (data?.group != null ? this.groups.onTyping(data) : typing.onTyping(data)));
    t.on(EVENTS.READ, (data) => (data?.group != null ? this.groups.onRead(data) : reads.onRead(data)));
    t.on(EVENTS.GROUP, (data) => this.groups.onGroupEvent(data).catch((err) => this.backgroundError(err)));
  }

  /** PROTOCOL §8: sync from the cursor, then resend the outbox; then catch up the rest. */
  async onConnected() {
    const { conversations, reads, receiving, sending } = this.parts;
    await onReconnect({ syncer: receiving.syncer, outbox: sending.outbox });
    this.parts.uploads.pump().catch((err) => this.backgroundError(err)); // kept attachments, then their messages
    reads.resend();
    await this.refresh();
    const conv = conversations.activeId !== null ? conversations.map.get(conversations.activeId) : null;
    if (conv && !conv.loaded) await conversations.loadNewest(conversations.activeId);
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

  /**
   * The session ended (signed out, revoked, expired): send nothing more, close the socket,
   * revoke every decrypted URL and drop every decrypted message held in memory.
   */
  end() {
    if (this.ended) return;
    this.ended = true;
    this.parts.sending.outbox.stop();
    this.parts.uploads.stop();
    this.parts.typing.end();
    this.transport.close();
    this.parts.files.release(null);
    this.parts.conversations.clear();
    this.parts.friends.clear();
    this.groups.clear();
  }

  // --- state the UI reads ---------------------------------------------------------------

  get friends() { return this.parts.friends.rows; }
  get incoming() { return this.parts.friends.incoming; }
  get outgoing() { return this.parts.friends.outgoing; }
  get conversations() { return this.parts.conversations.map; }
  get activeId() { return this.parts.conversations.activeId; }
  get outbox() { return this.parts.sending.outbox; }
  get syncer() { return this.parts.receiving.syncer; }
  get pins() { return this.parts.keys.pins; }
  set pins(pins) { this.parts.keys.pins = pins; }
  get keyWarnings() { return this.parts.keys.warnings; }
  /** False while friends' presence is not known (disconnected, or not yet listed since). */
  get presenceKnown() { return this.parts.presence.known; }

  // --- intents (the UI's calls), each handled by one part ----------------------------------

  // friends.js, groups.js
  async refresh() {
    await Promise.all([this.parts.friends.refresh(), this.groups.refresh()]);
  }
  applyFriends(listing, opts) { return this.parts.friends.apply(listing, opts); }
  friendList() { return this.parts.friends.list(); }
  searchUsers(prefix) { return this.parts.friends.search(prefix); }
  relationTo(userId) { return this.parts.friends.relationTo(userId); }
  requestFriend(username) { return this.parts.friends.request(username); }
  acceptFriend(userId) { return this.parts.friends.accept(userId); }
  /** Decline, cancel or unfriend. */
  removeFriend(userId, opts) { return this.parts.friends.remove(userId, opts); }

  // keys.js
  checkPeerKeys() { return this.parts.keys.check(); }
  needsKeyConfirmation(userId) { return this.parts.keys.needsConfirmation(userId); }
  acceptKeys(friendId, password) { return this.parts.keys.accept(friendId, password); }
  safetyNumber(friendId) { return this.parts.keys.safetyNumber(friendId); }

  // conversations.js
  conv(key) { return this.parts.conversations.get(key); }
  open(key) { return this.parts.conversations.open(key); }
  loadNewest(key) { return this.parts.conversations.loadNewest(key); }
  loadOlder(key) { return this.parts.conversations.loadOlder(key); }

  // receiving.js
  ingest(envelopes, source) { return this.parts.receiving.ingest(envelopes, source); }

  // reads.js
  setReading(on) { this.parts.reads.setReading(on); }
  isReading(key) { return this.parts.reads.isReading(key); }
  markRead(key) { this.parts.reads.markRead(key); }
  onRead(data) { this.parts.reads.onRead(data); }

  // typing.js
  typing(key) { this.parts.typing.typing(key); }
  stopTyping() { this.parts.typing.stop(); }

  // sending.js
  canSend(key) { return this.parts.sending.canSend(key); }
  sendText(key, text, opts) { return this.parts.sending.sendText(key, text, opts); }
  retry(key, cid) { return this.parts.sending.retry(key, cid); }
  discard(key, cid) { return this.parts.sending.discard(key, cid); }

  // groups.js (PROTOCOL §9)
  groupList() { return this.groups.list(); }
  group(key) { return this.groups.row(key); }
  groupTitle(key) { return this.groups.title(key); }
  sendWarning(key) { return this.kindOf(key).sendWarning(key); }
  // group_admin.js
  createGroup(name, memberIds) { return this.parts.groupAdmin.create(name, memberIds); }
  renameGroup(key, name) { return this.parts.groupAdmin.rename(key, name); }
  addGroupMember(key, userId) { return this.parts.groupAdmin.add(key, userId); }
  removeGroupMember(key, userId) { return this.parts.groupAdmin.remove(key, userId); }
  promoteGroupMember(key, userId) { return this.parts.groupAdmin.promote(key, userId); }
  leaveGroup(key) { return this.parts.groupAdmin.leave(key); }
  readersOf(key) { return this.groups.readers(key); }
  nameOf(userId) { return this.groups.nameOf(userId); }

  // files.js
  sendFile(key, file, opts) { return this.parts.files.send(key, file, opts); }
  attachment(file, opts) { return this.parts.files.attachment(file, opts); }
  cancelDownload(file) { this.parts.files.cancel(file); }
  // uploads.js
  transferOf(cid) { return this.parts.uploads.transfer(cid); }
  cancelUpload(key, cid) { return this.parts.uploads.cancel(key, cid); }
  /** Messages and attachments not yet on the server (asked about at logout). */
  async unsentCount() {
    return (await this.parts.sending.outbox.items()).length + (await this.store.uploadList()).length;
  }
  shouldAutoload(file) { return this.parts.files.shouldAutoload(file); }
  releaseAttachments(keepKey = null) { this.parts.files.release(keepKey); }
}
