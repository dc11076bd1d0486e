// Key pinning and key changes (PROTOCOL §6): which key ids of each user this user accepted
// (kept in the vault, session.js), warnings for a key outside them or one that failed its
// check (keyring.js), marking messages sealed under such a key, and refusing to send for it
// until the user confirms. Keyed by user id, so friends and group co-members (§9.6) share it.

import { judge, mergePeers, peersFromRecords, TRUST } from '../pins.js';
import { t } from '../i18n.js';

/** A send refused because of a friend's key: unconfirmed key change, or a key that failed its check. */
export class KeyChangeError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'KeyChangeError';
    this.code = code;
  }
}

export class KeyTrust {
  /**
   * @param {import('./client.js').ChatClient} client
   * @param {(peers: Map<number, Set<string>>, password: string) => Promise<Map<number, Set<string>>>} acceptInVault
   *   save accepted key ids in the vault (session.acceptPeerKeys)
   */
  constructor(client, acceptInVault) {
    this.client = client;
    this.acceptInVault = acceptInVault;
    this.pins = new Map(); // user id → Set of accepted key ids (PROTOCOL §6)
    this.warnings = new Map(); // user id → {pending: Set of unaccepted ids, rejected: Set of ids that failed the check}
    client.keyring.onRejected = (userId, keyId) => this.warn(userId, { rejected: keyId });
  }

  /** Read the accepted key ids this device holds (from the vault, at login). */
  async load() {
    this.pins = peersFromRecords(await this.client.store.peerRecords());
  }

  /**
   * PROTOCOL §6, §9.6: each friend's and co-member's current key must be one the user
   * accepted. The first key of a user with none accepted yet is trusted on first use; any
   * other is a key change.
   */
  async check() {
    const c = this.client;
    for (const friend of c.people()) {
      if (!friend.key_id) continue; // waiting for them to log in again
      const accepted = this.pins.get(friend.id);
      const verdict = judge(accepted, friend.key_id);
      if (verdict === TRUST.FIRST_USE) {
        this.pins.set(friend.id, new Set([friend.key_id]));
        await c.store.setPeer(friend.id, { accepted: [friend.key_id], synced: false });
      } else if (verdict === TRUST.CHANGED) {
        this.warn(friend.id, { pending: friend.key_id });
      }
      this.markUnverified(friend.id);
    }
  }

  /** Show the key warning for a user: a key id outside the accepted set, or one that failed its check. */
  warn(userId, { pending = null, rejected = null }) {
    const c = this.client;
    let warning = this.warnings.get(userId);
    if (!warning) {
      warning = { pending: new Set(), rejected: new Set() };
      this.warnings.set(userId, warning);
    }
    const before = warning.pending.size + warning.rejected.size;
    if (pending) warning.pending.add(pending);
    if (rejected !== null) warning.rejected.add(rejected);
    const friend = c.friends.get(userId);
    if (friend) friend.keyWarning = warning;
    if (warning.pending.size + warning.rejected.size !== before) c.parts.groups.onKeyWarning(userId);
    if (warning.pending.size + warning.rejected.size !== before) c.emit('friends');
  }

  /**
   * Mark a user's messages (in the pair conversation and in every group, §9.6) sent under a
   * key the user has not accepted, and warn.
   */
  markUnverified(userId) {
    const c = this.client;
    const accepted = this.pins.get(userId);
    for (const [key, conv] of c.parts.conversations.map) {
      if (key !== userId && !c.parts.groups.owns(key)) continue;
      let changed = false;
      for (const message of conv.list.list()) {
        if (message.out || message.from !== userId || !message.sk || message.kind === 'error' || message.kind === 'pending') continue;
        const unverified = judge(accepted, message.sk) !== TRUST.ACCEPTED;
        if (unverified && accepted?.size) this.warn(userId, { pending: message.sk });
        if (Boolean(message.unverified) !== unverified) {
          message.unverified = unverified;
          changed = true;
        }
      }
      if (changed) c.emit('messages', { friendId: key, reason: 'update' });
    }
  }

  /** PROTOCOL §6: a received message under a key the user has not accepted is marked, and warns. */
  judgeIncoming(message, env) {
    const accepted = this.pins.get(env.from);
    message.unverified = judge(accepted, env.sk) !== TRUST.ACCEPTED;
    if (message.unverified && accepted?.size) this.warn(env.from, { pending: env.sk });
  }

  /** True while a user's key warning is unanswered: sending then needs the user's confirmation. */
  needsConfirmation(userId) {
    return Boolean(this.warnings.get(userId)?.pending.size);
  }

  /** Refuse to encrypt for a key that failed its check, or (unless confirmed) while a key warning is unanswered. */
  checkForSending(friend, confirmed) {
    const warning = this.warnings.get(friend.id);
    if (warning?.rejected.has(friend.key_id)) {
      throw new KeyChangeError(t('The server gave a key for {name} that does not match its id. Nothing was sent.', { name: friend.username }), 'key_rejected');
    }
    if (warning?.pending.size && !confirmed) {
      throw new KeyChangeError(t('{name}’s security key changed. Confirm before sending.', { name: friend.username }), 'key_unconfirmed');
    }
  }

  /** Fetch friends' current public keys now, so writing works offline later. */
  warm() {
    const c = this.client;
    for (const friend of c.friends.values()) {
      if (friend.key_id) c.keyring.peerPublic(friend.id, friend.key_id).catch(() => {});
    }
  }

  /**
   * The user accepts a friend's changed key (after comparing safety numbers): the current key
   * and every key id the warning names join the accepted set, in the vault, so every device
   * of the user trusts them. Needs the password (the vault is written with `auth`).
   */
  async accept(friendId, password) {
    const c = this.client;
    const friend = c.person(friendId);
    const warning = this.warnings.get(friendId);
    const ids = new Set(warning ? warning.pending : []);
    if (friend?.key_id && !warning?.rejected.has(friend.key_id)) ids.add(friend.key_id);
    const saved = await this.acceptInVault(mergePeers(this.pins, new Map([[friendId, ids]])), password);
    this.pins = mergePeers(this.pins, saved);
    if (warning) {
      for (const id of ids) warning.pending.delete(id);
      if (!warning.pending.size && !warning.rejected.size) this.warnings.delete(friendId);
    }
    const row = c.friends.get(friendId);
    if (row) row.keyWarning = this.warnings.get(friendId) || null;
    this.markUnverified(friendId);
    c.parts.groups.onKeyWarning(friendId);
    c.emit('friends');
    c.emit('messages', { friendId, reason: 'update' });
  }

  /** `key_changed {user}` (§8): another device of mine, or a friend, has a new key. */
  async onKeyChanged({ user } = {}) {
    const c = this.client;
    if (user === c.me.id) {
      const { user: me } = await c.api.me();
      if (me.key_id && !c.keyring.own.has(me.key_id)) {
        c.emit('error', { message: t('Your key changed on another device. Log in again here to read new messages.'), sticky: true });
      }
      return;
    }
    c.keyring.forgetPeer(user);
    await c.parts.friends.refresh();
    if (c.parts.groups.sharesGroupWith(user)) await c.parts.groups.refresh();
    if (c.friends.get(user)?.keyWarning) c.emit('messages', { friendId: user, reason: 'update' });
  }

  /** The safety number (§6) for the current key of a friend or co-member (§9.6). */
  async safetyNumber(friendId) {
    const friend = this.client.person(friendId);
    if (!friend?.key_id) throw new Error(t('This friend has no key yet.'));
    return this.client.keyring.safetyNumber(friendId, friend.key_id);
  }
}
