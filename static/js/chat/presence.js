// Who is online (PROTOCOL §8 `presence`, between friends only, §9.5): the friend rows'
// `online` flag, and whether it is known at all: not while this client is disconnected, nor
// before a listing fetched over a live connection said who is online.

export class Presence {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.known = false;
  }

  /** A friend listing arrived: presence is known when it came while the socket is connected. */
  onListing({ fromSnapshot = false } = {}) {
    this.known = !fromSnapshot && Boolean(this.client.transport.connected);
  }

  onPresence({ user, online } = {}) {
    const c = this.client;
    const friend = c.friends.get(user);
    if (!friend) return;
    friend.online = Boolean(online);
    if (!friend.online) friend.typing = false;
    c.emit('friends');
    if (user === c.activeId) c.emit('typing', { friendId: user, on: friend.typing });
  }

  /** While disconnected nobody's presence is known: unknown (and not online) until resync. */
  onConnectionState(state) {
    const c = this.client;
    if (state === 'connected') return;
    let changed = this.known;
    this.known = false;
    for (const friend of c.friends.values()) {
      if (friend.online || friend.typing) changed = true;
      friend.online = false;
      friend.typing = false;
    }
    if (changed) {
      c.emit('friends');
      if (c.activeId !== null) c.emit('typing', { friendId: c.activeId, on: false });
    }
  }
}
