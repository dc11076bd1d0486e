// Read markers (PROTOCOL §8 `read`): whether the user is reading the open conversation, the
// marker sent for what is on screen (resent after a reconnect until acknowledged), and the
// markers received: a friend's (own messages become "read") or my other devices' (unread
// counts drop).

import { EVENTS } from '../transport.js';

export class Reads {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.reading = false;
    this.pending = new Map(); // conversation key → up_to not yet acknowledged
  }

  /** The UI says whether the open conversation is on screen in a focused, visible tab. */
  setReading(on) {
    const c = this.client;
    this.reading = Boolean(on);
    if (this.reading && c.activeId !== null) this.markRead(c.activeId);
  }

  isReading(key) {
    return this.reading && key === this.client.activeId;
  }

  /** Send `read` for what is on screen, once per new id. */
  markRead(key) {
    const c = this.client;
    const row = c.rowOf(key);
    if (!row || !this.isReading(key)) return;
    const upTo = c.parts.conversations.get(key).list.newestIncomingId();
    const hadUnread = row.unread > 0;
    row.unread = 0;
    if (hadUnread) c.emit('friends');
    if (upTo > row.readUpTo) {
      row.readUpTo = upTo;
      this.send(key, upTo);
    }
  }

  send(key, upTo) {
    const c = this.client;
    this.pending.set(key, upTo);
    c.request(EVENTS.READ, { ...c.kindOf(key).address(key, 'read'), up_to: upTo })
      .then((ack) => {
        if (ack?.ok && this.pending.get(key) === upTo) this.pending.delete(key);
      })
      .catch(() => {}); // resent after the next (re)connect
  }

  /** After a (re)connect: send again every marker not yet acknowledged. */
  resend() {
    for (const [key, upTo] of this.pending) this.send(key, upTo);
  }

  /** A pair `read {from, up_to}` (§8): a friend's marker, or mine from another device. */
  onRead({ from, up_to: upTo } = {}) {
    const c = this.client;
    const { conversations } = c.parts;
    if (!Number.isInteger(upTo)) return;
    if (from === c.me.id) {
      // My read marker from another device: the payload has no friend id, so find the message.
      for (const [key, conv] of conversations.map) {
        if (conv.list.hasId(upTo)) {
          const row = c.rowOf(key);
          if (row && upTo > row.readUpTo) {
            row.readUpTo = upTo;
            if (conv.list.newestIncomingId() <= upTo) row.unread = 0;
            c.emit('friends');
          }
          return;
        }
      }
      return;
    }
    const friend = c.friends.get(from);
    if (!friend) return;
    friend.peerReadUpTo = Math.max(friend.peerReadUpTo, upTo);
    const changed = conversations.get(from).list.setPeerRead(friend.peerReadUpTo);
    if (changed.length) c.emit('messages', { friendId: from, reason: 'update' });
  }
}
