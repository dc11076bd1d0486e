// The group conversation kind (PROTOCOL §9) and the group state behind it: the groups this
// user is in (GET /api/groups, kept current by `group` events, fetched again after every
// reconnect with the differences shown), each group's applied roster and name (§9.6, rules
// in roster.js), membership system lines (texts in group_lines.js), per-member read markers
// and typing. The admin intents are group_admin.js's. A group's conversation key is
// 'g:<id>' (pairs.js lists the questions a kind answers).

import { readGroupPlaintext } from '../groupcrypto.js';
import { t } from '../i18n.js';
import { readPlain } from './plaintext.js';
import { eventLine, listingLine, updateLine } from './group_lines.js';
import { APPLIED, judgeGroupMessage, listingChanges, unconfirmedMembers, VERDICT } from './roster.js';

const PREFIX = 'g:';
const TYPING_SHOWN_MS = 7000; // as typing.js shows a friend's indicator

/** The conversation key of group `id`. */
export function groupKey(id) {
  return `${PREFIX}${id}`;
}

/** The group id of a conversation key 'g:<id>'. */
export function groupIdOf(key) {
  return Number(String(key).slice(PREFIX.length));
}

/** A send that would wrap the message key for a member no admin's device confirmed (§9.6). */
export class UnconfirmedMemberError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UnconfirmedMemberError';
    this.code = 'group_unconfirmed';
  }
}

export class Groups {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.rows = new Map(); // conversation key → row (see decorate for its fields)
    this.rosters = new Map(); // group id → applied roster {msgId, cid, from, members, admins, name} (§9.6)
    this.usernames = new Map(); // user id → username, from every listing seen
    this.summaries = new Map(); // group id → GET /api/conversations summary {last_id, last_ts, unread, read_up_to}
    this.maxMembers = null;
    this.lineSeq = 0;
    this.known = false; // a listing was seen (now or before a restart): later ones are compared with it
  }

  owns(key) {
    return typeof key === 'string' && key.startsWith(PREFIX);
  }

  // --- the kind (pairs.js describes each question) --------------------------------------

  row(key) {
    return this.rows.get(key);
  }

  title(key) {
    const row = this.row(key);
    return row ? row.title : t('a group');
  }

  keyOf(env) {
    if (!env || typeof env !== 'object' || !env.cid || !Number.isInteger(env.g) || !Number.isInteger(env.from)) return null;
    return groupKey(env.g);
  }

  keyOfOwn(envelope) {
    return groupKey(envelope.g);
  }

  /** `typing` and `read` name the group as `group` (§9.5). */
  address(key) {
    return { group: groupIdOf(key) };
  }

  messageFields(key) {
    return { g: groupIdOf(key) };
  }

  history(key, opts) {
    return this.client.api.groupMessages(groupIdOf(key), opts);
  }

  cached(key, opts) {
    return this.client.store.cachedEnvelopes(key, opts);
  }

  mayWrite(key) {
    const row = this.row(key);
    return Boolean(row && this.client.keyring.current() && row.members.every((m) => m.key_id));
  }

  mayType(key) {
    return Boolean(this.row(key));
  }

  open(env) {
    return this.client.keyring.decryptGroup(env);
  }

  /** `text` and `file` as in a pair (§5); a `group` message becomes a system line (§9.3). */
  read(plain) {
    if (plain?.t !== 'group') return readPlain(plain);
    try {
      return { kind: 'system', update: readGroupPlaintext(plain), text: '' };
    } catch {
      return { kind: 'system', update: null, text: t('A group update in a form this app does not know was ignored.') };
    }
  }

  /**
   * What the user must confirm before sending here: a co-member's changed key, or members
   * no admin's device confirmed yet (§9.6). Null when nothing.
   */
  sendWarning(key) {
    const row = this.row(key);
    if (!row) return null;
    const keys = this.client.parts.keys;
    const changed = row.members.filter((m) => m.id !== this.client.me.id && keys.needsConfirmation(m.id));
    if (changed.length) return { reason: 'key_changed', names: changed.map((m) => m.username) };
    const waiting = this.unconfirmedToAsk(row);
    if (waiting.length) return { reason: 'unconfirmed', names: waiting.map((id) => this.nameOf(id)) };
    return null;
  }

  /** Unconfirmed members the user has not yet agreed to write to. */
  unconfirmedToAsk(row) {
    return row.unconfirmed.filter((id) => !row.allowed.has(id));
  }

  /**
   * Check that the group can be written to now, and answer the function that seals for every
   * member as the last listing names them, myself included (§9.4).
   */
  sealer(key, { confirmed = false } = {}) {
    const c = this.client;
    const row = this.row(key);
    if (!row) throw new Error(t('You are not a member of this group.'));
    for (const member of row.members) {
      if (!member.key_id) throw new Error(t('{name} has no key yet: wait until they log in again.', { name: member.username }));
      if (member.id !== c.me.id) c.parts.keys.checkForSending(member, confirmed);
    }
    const waiting = this.unconfirmedToAsk(row);
    if (waiting.length) {
      if (!confirmed) {
        throw new UnconfirmedMemberError(t('{names} joined but no admin’s device confirmed it yet. Confirm before sending.',
          { names: waiting.map((id) => this.nameOf(id)).join(', ') }));
      }
      for (const id of waiting) row.allowed.add(id);
    }
    const members = row.members.map((m) => ({ id: m.id, key_id: m.key_id }));
    return (plain, cid) => c.keyring.encryptForGroup(row.id, members, plain, cid);
  }

  upload(key, ct, opts = {}) {
    return this.client.api.uploadBlob(null, ct, { ...opts, group: groupIdOf(key) });
  }

  /**
   * `stale_members` (§9.5): fetch the group and its members' keys again, open my own copy of
   * the message with my self wrap, and seal the same plaintext for the members now listed,
   * with the same cid. A key that failed its check still refuses.
   */
  async reseal(envelope) {
    const c = this.client;
    const { group } = await c.api.group(envelope.g);
    const row = this.applyGroup(group);
    await c.parts.keys.check();
    for (const member of row.members) {
      if (member.id !== c.me.id) c.parts.keys.checkForSending(member, true);
    }
    const plain = await c.keyring.decryptGroup({ ...envelope, from: c.me.id });
    const members = row.members.map((m) => ({ id: m.id, key_id: m.key_id }));
    this.emitChanged(row);
    return c.keyring.encryptForGroup(row.id, members, plain, envelope.cid);
  }

  /** A message just added to a group conversation: apply a `group` message's roster (§9.6). */
  received(key, message) {
    if (message.kind !== 'system' || !message.update) return;
    const c = this.client;
    const id = groupIdOf(key);
    const row = this.row(key);
    const roster = this.rosters.get(id) || null;
    const verdict = judgeGroupMessage(roster, message, row ? row.members : []);
    const update = message.update;
    // The sender's name is looked up when the line is shown: a message read by sync can come
    // before the listing that names its sender.
    const sender = () => (message.from === c.me.id ? null : this.nameOf(message.from));
    message.verdict = verdict;
    const before = APPLIED.has(verdict) ? roster : null;
    // What it changed is judged against the group message before it in the timeline (history
    // pages arrive newest first), else against the roster applied before it.
    Object.defineProperty(message, 'text', {
      get: () => updateLine(verdict, sender(), update, this.updateBefore(key, message) || before, (userId) => this.nameOf(userId)),
      enumerable: true,
      configurable: true,
    });
    if (!APPLIED.has(verdict)) return;
    this.rosters.set(id, { msgId: message.id ?? null, cid: message.cid, from: message.from,
      members: update.members, admins: update.admins, name: update.name });
    if (row) {
      this.decorate(row);
      this.emitChanged(row);
    }
    this.save();
  }

  /** The roster of the newest readable `group` message shown before `message` (not one that was refused), or null. */
  updateBefore(key, message) {
    const conv = this.client.parts.conversations.map.get(key);
    if (!conv) return null;
    let found = null;
    for (const m of conv.list.list()) {
      if (m === message) break;
      if (m.kind === 'system' && m.update && m.id != null && m.verdict !== VERDICT.NOT_ADMIN) found = m.update;
    }
    return found;
  }

  /** An own message got its id: a roster it carried is now placed by that id (§9.6 "newest"). */
  stored(key, message) {
    const roster = this.rosters.get(groupIdOf(key));
    if (roster && roster.from === this.client.me.id && roster.cid === message.cid && message.id != null) {
      roster.msgId = message.id;
      this.save();
    }
  }

  // --- the group list ---------------------------------------------------------------------

  /** GET /api/groups (§9.2); after the first listing, show what changed meanwhile (§9.5). */
  async refresh() {
    const c = this.client;
    let answer;
    try {
      answer = await c.api.groups();
    } catch (err) {
      if (err.code === 'not_found') return; // a server without groups
      throw err;
    }
    this.maxMembers = answer.max_members ?? this.maxMembers;
    const seen = new Set();
    const hadListing = this.known;
    for (const group of answer.groups || []) {
      const key = groupKey(group.id);
      seen.add(key);
      const before = this.rows.get(key)?.members || null;
      const row = this.applyGroup(group);
      if (!hadListing) continue;
      const changes = before ? listingChanges(before, row.members) : [{ change: 'new', user: null }];
      for (const { change, user } of changes) this.addLine(key, listingLine(change, user === null ? null : this.nameOf(user)));
    }
    for (const key of [...this.rows.keys()]) if (!seen.has(key)) this.drop(key);
    this.known = true;
    await c.parts.keys.check();
    await this.save();
    c.emit('groups', {});
    c.emit('friends');
    c.parts.conversations.prefetch(this.rows);
  }

  /** Show the groups of the last listing (offline start) before the server answers. */
  async restore() {
    const c = this.client;
    const rosters = await c.store.getMeta('rosters', null);
    const snapshot = await c.store.getMeta('groups', null);
    for (const [id, roster] of Object.entries(rosters || {})) this.rosters.set(Number(id), { ...roster, name: '' });
    if (!snapshot) return;
    for (const [id, name] of Object.entries(snapshot.names || {})) {
      const roster = this.rosters.get(Number(id));
      if (roster && typeof name === 'string') roster.name = name;
    }
    for (const group of snapshot.groups || []) this.applyGroup(group);
    this.maxMembers = snapshot.maxMembers ?? null;
    this.known = this.rows.size > 0 || Boolean(snapshot.known);
    c.emit('friends');
  }

  /** Keep the listing (metadata), the rosters (trust state, kept like accepted keys) and the names (content: forgotten at logout). */
  async save() {
    const c = this.client;
    const rosters = {};
    const names = {};
    for (const [id, roster] of this.rosters) {
      const { name, ...rest } = roster;
      rosters[id] = rest;
      names[id] = name;
    }
    await c.store.setMeta('rosters', rosters);
    await c.store.setMeta('groups', { groups: [...this.rows.values()].map((r) => r.group), names, maxMembers: this.maxMembers, known: true });
  }

  /** A server group object (§9.2) into its row; answers the row. */
  applyGroup(group) {
    const key = groupKey(group.id);
    let row = this.rows.get(key);
    if (!row) {
      row = {
        key, id: group.id, kind: 'group', unread: 0, readUpTo: 0, peerReadUpTo: 0, lastId: 0, lastTs: null,
        preview: '', previewOut: false, typing: false, typers: new Map(), allowed: new Set(),
      };
      this.rows.set(key, row);
    }
    row.group = group;
    row.created = group.created;
    row.createdBy = group.created_by;
    row.myRole = group.my_role;
    row.members = (group.members || []).map((m) => ({ ...m }));
    for (const m of row.members) this.usernames.set(m.id, m.username);
    const summary = this.summaries.get(group.id);
    if (summary) this.applySummary(row, summary);
    this.decorate(row);
    return row;
  }

  /**
   * Derived fields of a row: name and title, unconfirmed members, the lowest read marker of the
   * other members (own messages read by everyone), co-members with a key warning.
   */
  decorate(row) {
    const c = this.client;
    const me = c.me.id;
    const roster = this.rosters.get(row.id) || null;
    row.name = roster ? roster.name : '';
    row.admins = row.members.filter((m) => m.role === 'admin').map((m) => m.id);
    const others = row.members.filter((m) => m.id !== me);
    row.title = row.name || others.map((m) => m.username).join(', ') || t('Only you');
    row.unconfirmed = unconfirmedMembers(roster, row.members, me);
    row.rosterAdmins = roster ? roster.admins : [];
    row.keyWarnings = others.filter((m) => c.parts.keys.warnings.has(m.id)).map((m) => m.id);
    row.keyWarning = row.keyWarnings.length ? c.parts.keys.warnings.get(row.keyWarnings[0]) : null;
    row.username = row.title; // what notifications and error messages call a conversation
    const lowest = others.length ? Math.min(...others.map((m) => m.read_up_to || 0)) : 0;
    row.peerReadUpTo = Math.max(row.peerReadUpTo, lowest);
    const conv = c.parts.conversations.map.get(row.key);
    if (conv) conv.list.setPeerRead(row.peerReadUpTo);
  }

  /** Per-group summaries of GET /api/conversations (§9): unread, read marker, last activity. */
  applySummaries(list) {
    for (const s of list) {
      const id = s.group ?? s.id;
      if (!Number.isInteger(id)) continue;
      this.summaries.set(id, s);
      const row = this.rows.get(groupKey(id));
      if (row) this.applySummary(row, s);
    }
  }

  applySummary(row, s) {
    row.unread = this.client.parts.reads.isReading(row.key) ? 0 : s.unread || 0;
    row.readUpTo = Math.max(row.readUpTo, s.read_up_to || 0);
    if ((s.last_id || 0) >= row.lastId) {
      row.lastId = s.last_id || 0;
      row.lastTs = s.last_ts || row.lastTs;
    }
  }

  /** A group this user is no longer in: gone from the list; its conversation closes. */
  drop(key) {
    const c = this.client;
    this.rows.delete(key);
    this.rosters.delete(groupIdOf(key));
    if (c.parts.conversations.activeId === key) c.parts.conversations.open(null);
    c.parts.conversations.map.delete(key);
  }

  // --- server events ----------------------------------------------------------------------

  /** `group {id, change, user, by, group}` (§9.5): update the row and show a system line. */
  async onGroupEvent({ id, change, user, by, group } = {}) {
    const c = this.client;
    if (!Number.isInteger(id)) return;
    const key = groupKey(id);
    const title = this.rows.get(key)?.title || t('a group');
    if (!group) {
      if (!this.rows.has(key)) return;
      this.drop(key);
      const message = change === 'removed' && user === c.me.id
        ? t('{by} removed you from {group}.', { by: this.nameOf(by), group: title })
        : t('You left {group}.', { group: title });
      c.emit('notice', { message });
      await this.save();
      c.emit('groups', { key, change });
      c.emit('friends');
      return;
    }
    const row = this.applyGroup(group);
    const text = eventLine(change, {
      me: c.me.id, user, by, name: this.nameOf(user), byName: by == null ? null : this.nameOf(by),
    });
    if (text) this.addLine(key, text);
    if (change === 'added' || change === 'created') await c.parts.keys.check();
    await this.save();
    this.emitChanged(row);
    c.emit('groups', { key, change });
  }

  /** `typing {from, group, on}` (§9.5): who is typing, shown until "off" or for a few seconds. */
  onTyping({ from, group, on } = {}) {
    const c = this.client;
    const row = this.rows.get(groupKey(group));
    if (!row || from === c.me.id) return;
    clearTimeout(row.typers.get(from));
    row.typers.delete(from);
    if (on) row.typers.set(from, setTimeout(() => this.onTyping({ from, group, on: false }), TYPING_SHOWN_MS));
    row.typing = row.typers.size > 0;
    row.typingNames = [...row.typers.keys()].map((id) => this.nameOf(id));
    c.emit('typing', { friendId: row.key, on: row.typing });
    c.emit('friends');
  }

  /** `read {from, group, up_to}` (§9.5): a member's marker, or mine from another device. */
  onRead({ from, group, up_to: upTo } = {}) {
    const c = this.client;
    const row = this.rows.get(groupKey(group));
    if (!row || !Number.isInteger(upTo)) return;
    if (from === c.me.id) {
      if (upTo > row.readUpTo) {
        row.readUpTo = upTo;
        const conv = c.parts.conversations.map.get(row.key);
        if (!conv || conv.list.newestIncomingId() <= upTo) row.unread = 0;
        c.emit('friends');
      }
      return;
    }
    const member = row.members.find((m) => m.id === from);
    if (!member || upTo <= (member.read_up_to || 0)) return;
    member.read_up_to = upTo;
    this.decorate(row);
    c.emit('messages', { friendId: row.key, reason: 'update' });
  }

  /** A user's key warning changed: the rows of the groups they are in show it. */
  onKeyWarning(userId) {
    for (const row of this.rows.values()) {
      if (row.members.some((m) => m.id === userId)) {
        this.decorate(row);
        this.emitChanged(row);
      }
    }
  }

  // --- questions the UI and other parts ask -------------------------------------------------

  /** Groups by last activity, then by title. */
  list() {
    const me = this.client.me.id;
    for (const row of this.rows.values()) {
      row.previewFrom = !row.preview || !Number.isInteger(row.previewFromId) ? null
        : row.previewFromId === me ? t('You') : this.nameOf(row.previewFromId);
    }
    return [...this.rows.values()].sort((a, b) => (b.lastTs || b.created || 0) - (a.lastTs || a.created || 0)
      || a.title.localeCompare(b.title));
  }

  /** Who has read up to where: message id → names of the other members whose marker is there. */
  readers(key) {
    const c = this.client;
    const row = this.row(key);
    const conv = c.parts.conversations.map.get(key);
    const at = new Map();
    if (!row || !conv) return at;
    const ids = conv.list.list().filter((m) => m.id != null).map((m) => m.id);
    for (const member of row.members) {
      if (member.id === c.me.id || !member.read_up_to) continue;
      let found = null;
      for (const id of ids) if (id <= member.read_up_to) found = id;
      if (found === null) continue;
      if (!at.has(found)) at.set(found, []);
      at.get(found).push(member.username);
    }
    return at;
  }

  nameOf(userId) {
    const c = this.client;
    if (userId === c.me.id) return c.me.username;
    return this.usernames.get(userId) || c.friends.get(userId)?.username || t('user {id}', { id: userId });
  }

  *coMembers() {
    for (const row of this.rows.values()) {
      for (const m of row.members) if (m.id !== this.client.me.id) yield m;
    }
  }

  coMember(userId) {
    for (const m of this.coMembers()) if (m.id === userId) return m;
    return undefined;
  }

  sharesGroupWith(userId) {
    return Boolean(this.coMember(userId));
  }

  /** Add a system line (a membership change) after the newest message of a group (§9.6). */
  addLine(key, text) {
    const c = this.client;
    const conv = c.parts.conversations.get(key);
    const row = this.row(key);
    this.lineSeq += 1;
    const at = Math.max(conv.list.newestId(), row?.lastId || 0) + 0.5;
    const { message } = conv.list.upsert({ id: null, at, cid: `line${this.lineSeq}`, from: 'system', ts: c.now(),
      kind: 'system', text });
    c.parts.conversations.touch(key, conv);
    c.emit('messages', { friendId: key, reason: 'append' });
    return message;
  }

  emitChanged(row) {
    const c = this.client;
    c.emit('messages', { friendId: row.key, reason: 'update' });
    c.emit('friends');
  }

  clear() {
    for (const row of this.rows.values()) for (const timer of row.typers.values()) clearTimeout(timer);
    this.rows.clear();
    this.rosters.clear();
    this.summaries.clear();
  }
}
