// Typing indicators (PROTOCOL §8 `typing`, not stored): tell the open conversation while the
// user types, at most every few seconds, and "stopped" when idle, on send or on leaving;
// show a friend's indicator for a while after each signal.

import { EVENTS } from '../transport.js';

const TYPING_SHOWN_MS = 7000;
const TYPING_RESEND_MS = 3000;
const TYPING_IDLE_MS = 4000;

export class Typing {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
    this.out = { to: null, at: 0, timer: null }; // to: the conversation key told "on"
  }

  /** The user typed in the composer: tell the conversation, at most every few seconds. */
  typing(key) {
    const c = this.client;
    if (!c.kindOf(key).mayType(key)) return;
    const t = this.out;
    const now = c.now();
    if (t.to !== key || now - t.at > TYPING_RESEND_MS) {
      if (t.to !== null && t.to !== key) this.notify(t.to, false);
      this.notify(key, true);
      t.to = key;
      t.at = now;
    }
    clearTimeout(t.timer);
    t.timer = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  stop() {
    const t = this.out;
    clearTimeout(t.timer);
    if (t.to !== null) this.notify(t.to, false);
    t.to = null;
    t.at = 0;
  }

  notify(key, on) {
    const c = this.client;
    c.transport.notify(EVENTS.TYPING, { ...c.kindOf(key).address(key, 'typing'), on });
  }

  /** A friend's `typing {from, on}` (§8): shown until "off", or for a few seconds. */
  onTyping({ from, on } = {}) {
    const c = this.client;
    const friend = c.friends.get(from);
    if (!friend) return;
    clearTimeout(friend.typingTimer);
    friend.typing = Boolean(on);
    if (friend.typing) {
      friend.typingTimer = setTimeout(() => this.onTyping({ from, on: false }), TYPING_SHOWN_MS);
    }
    c.emit('typing', { friendId: from, on: friend.typing });
    c.emit('friends');
  }

  /** The session ended: no timer may send anything more. */
  end() {
    clearTimeout(this.out.timer);
  }
}
