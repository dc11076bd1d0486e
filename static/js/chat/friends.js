// Friends and friend requests (PROTOCOL §7): the friend rows the sidebar shows, pending
// requests both ways, the pair conversation summaries that fill those rows, and the
// snapshot that shows them again at the next (possibly offline) start.

import { EVENTS } from '../transport.js';

export class Friends {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.rows = new Map(); // friend id → row (see pairs.js for the fields a row holds)
    this.incoming = [];
    this.outgoing = [];
  }

  /** Fetch friends and conversation summaries; join new pair rooms; prefetch previews. */
  async refresh() {
    const c = this.client;
    const before = new Set(this.rows.keys());
    const listing = await c.api.friends();
    this.apply(listing);
    let summaries = [];
    try {
      const answer = await c.api.conversations();
      summaries = answer.conversations || [];
      c.parts.groups.applySummaries(answer.groups || []); // §9: the same summaries per group
    } catch (err) {
      if (err.code !== 'not_found') throw err;
    }
    this.applySummaries(summaries);
    await c.parts.keys.check();
    c.parts.keys.warm();
    for (const id of this.rows.keys()) {
      if (!before.has(id) && c.transport.connected) c.request(EVENTS.JOIN, { friend: id }).catch(() => {});
    }
    const active = c.parts.conversations.activeId;
    if (active !== null && !c.rowOf(active)) c.parts.conversations.open(null);
    await c.store.setMeta('snapshot', {
      listing: { friends: [...this.rows.values()].map(snapshotFriend), incoming: this.incoming, outgoing: this.outgoing },
      conversations: summaries,
    });
    c.emit('friends');
    c.parts.conversations.prefetch(this.rows);
  }

  /** Show what the last refresh saw, everyone offline, before the server answers. */
  async restoreSnapshot() {
    const snapshot = await this.client.store.getMeta('snapshot', null);
    if (!snapshot) return;
    this.apply(snapshot.listing, { fromSnapshot: true });
    this.applySummaries(snapshot.conversations || []);
    for (const friend of this.rows.values()) friend.online = false;
    this.client.emit('friends');
  }

  apply(listing, { fromSnapshot = false } = {}) {
    const c = this.client;
    const next = new Map();
    for (const f of listing.friends || []) {
      const old = this.rows.get(f.id);
      if (old && old.key_id !== f.key_id) c.keyring.forgetPeer(f.id);
      next.set(f.id, {
        unread: 0, lastId: 0, lastTs: null, readUpTo: 0, peerReadUpTo: 0, preview: '', typing: false,
        ...old,
        keyWarning: c.parts.keys.warnings.get(f.id) || null,
        id: f.id, username: f.username, since: f.since, key_id: f.key_id ?? null,
        online: fromSnapshot ? false : Boolean(f.online),
      });
    }
    this.rows = next;
    c.parts.presence.onListing({ fromSnapshot });
    this.incoming = listing.incoming || [];
    this.outgoing = listing.outgoing || [];
  }

  /** Pair conversation summaries (§7 GET /api/conversations) into the friend rows. */
  applySummaries(summaries) {
    const c = this.client;
    for (const s of summaries) {
      const friend = this.rows.get(s.friend);
      if (!friend) continue;
      friend.unread = c.parts.reads.isReading(s.friend) ? 0 : s.unread || 0;
      friend.readUpTo = Math.max(friend.readUpTo, s.read_up_to || 0);
      if ((s.last_id || 0) >= friend.lastId) {
        friend.lastId = s.last_id || 0;
        friend.lastTs = s.last_ts || friend.lastTs;
      }
      friend.peerReadUpTo = Math.max(friend.peerReadUpTo, s.peer_read_up_to || 0);
      const conv = c.parts.conversations.map.get(s.friend);
      if (conv) conv.list.setPeerRead(friend.peerReadUpTo);
    }
  }

  async search(prefix) {
    const q = prefix.trim().toLowerCase();
    if (!q) return [];
    const { users } = await this.client.api.searchUsers(q);
    return users.map((u) => ({ ...u, relation: this.relationTo(u.id) }));
  }

  relationTo(userId) {
    if (this.rows.has(userId)) return 'friend';
    if (this.incoming.some((r) => r.id === userId)) return 'incoming';
    if (this.outgoing.some((r) => r.id === userId)) return 'outgoing';
    return 'none';
  }

  async request(username) {
    const answer = await this.client.api.requestFriend(username);
    await this.refresh();
    return answer.status;
  }

  async accept(userId) {
    await this.client.api.acceptFriend(userId);
    await this.refresh();
  }

  /** Decline, cancel or unfriend; `forget` also drops the pair conversation from this device. */
  async remove(userId, { forget = false } = {}) {
    const c = this.client;
    await c.api.removeFriend(userId);
    if (forget) {
      c.parts.conversations.map.delete(userId);
      await c.store.forgetConversation(userId);
    }
    await this.refresh();
  }

  /** Friends by last activity, then by name. */
  list() {
    return [...this.rows.values()].sort((a, b) => (b.lastTs || 0) - (a.lastTs || 0)
      || a.username.localeCompare(b.username));
  }

  clear() {
    this.rows.clear();
    this.incoming = [];
    this.outgoing = [];
  }
}

function snapshotFriend(f) {
  return { id: f.id, username: f.username, since: f.since, key_id: f.key_id, online: false };
}
