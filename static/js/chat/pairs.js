// The pair conversation kind (PROTOCOL §4-§8): a conversation with one friend, whose
// conversation key is the friend's user id. The kind-neutral modules beside this one
// (conversations, receiving, sending, files, typing, reads) take a conversation key and ask
// its kind, through ChatClient.kindOf, everything that differs between conversation kinds.
// A group kind (PROTOCOL §9) answers the same questions in its own file:
//
//   row(key)                   the sidebar row: {unread, readUpTo, peerReadUpTo, lastId, lastTs,
//                              preview, previewOut, typing, …}, or undefined
//   title(key)                 who a conversation is with, for error messages
//   keyOf(env)                 the conversation a received envelope belongs to, or null to ignore it
//   keyOfOwn(envelope)         the conversation of an own outbox envelope
//   address(key, event)        the fields naming the conversation in `typing` and `read` (§8)
//   messageFields(key)         the addressee fields of an own message shown before it is sealed
//   history(key, opts)         one page of stored history over HTTP (§7)
//   cached(key, opts)          the same from the local envelope cache
//   mayWrite(key), mayType(key)
//   sendWarning(key)           what the user must confirm before sending ({reason, names}), or null
//   sealer(key, {confirmed, attachment})  check now (throws), answer (plain, cid) => envelope
//   upload(key, ct, opts)      store an attachment's ciphertext (§7 blobs); opts: {onProgress, signal}
//   open(env), read(plain)     decrypt a received or own envelope; the fields a message shows
//   received?(key, message, source)  a message just added to the conversation (optional)
//   reseal?(envelope, ack)     seal an own envelope again after a `stale_members` ack (groups)

import { readPlain } from './plaintext.js';
import { t } from '../i18n.js';

/** A pair conversation (§8): keyed by the friend's user id. */
export class Pairs {
  /** @param {import('./client.js').ChatClient} client */
  constructor(client) {
    this.client = client;
  }

  row(friendId) {
    return this.client.friends.get(friendId);
  }

  title(friendId) {
    return this.row(friendId)?.username || t('a friend');
  }

  /** The other user of a pair envelope addressed to or from me; null for anything else. */
  keyOf(env) {
    const me = this.client.me.id;
    if (!env || typeof env !== 'object' || !env.cid || !Number.isInteger(env.from) || !Number.isInteger(env.to)) return null;
    if (env.from !== me && env.to !== me) return null;
    return env.from === me ? env.to : env.from;
  }

  keyOfOwn(envelope) {
    return envelope?.to;
  }

  /** `typing` names the friend as `to`, `read` as `friend` (§8). */
  address(friendId, event) {
    return event === 'typing' ? { to: friendId } : { friend: friendId };
  }

  messageFields(friendId) {
    return { to: friendId };
  }

  history(friendId, opts) {
    return this.client.api.messages(friendId, opts);
  }

  cached(friendId, opts) {
    return this.client.store.cachedEnvelopes(friendId, opts);
  }

  mayWrite(friendId) {
    const friend = this.row(friendId);
    return Boolean(friend?.key_id && this.client.keyring.current());
  }

  /** What the user must confirm before sending: an unanswered key change (§6), or null. */
  sendWarning(friendId) {
    if (!this.client.parts.keys.needsConfirmation(friendId)) return null;
    return { reason: 'key_changed', names: [this.row(friendId)?.username || this.title(friendId)] };
  }

  mayType(friendId) {
    return Boolean(this.row(friendId)?.key_id);
  }

  /**
   * Check that the friend can be written to now (a key, and one the user trusts: keys.js), and
   * answer the function that seals for the friend's key as it is now (§5).
   */
  sealer(friendId, { confirmed = false, attachment = false } = {}) {
    const friend = this.row(friendId);
    if (attachment) {
      if (!friend?.key_id) throw new Error(t('This friend has no key yet.'));
    } else {
      if (!friend) throw new Error(t('You can only write to a friend.'));
      if (!friend.key_id) throw new Error(t('{name} has no key yet: wait until they log in again.', { name: friend.username }));
    }
    this.client.parts.keys.checkForSending(friend, confirmed);
    return (plain, cid) => this.client.keyring.encryptFor(friendId, friend.key_id, plain, cid);
  }

  upload(friendId, ct, opts = {}) {
    return this.client.api.uploadBlob(friendId, ct, opts);
  }

  open(env) {
    return this.client.keyring.decrypt(env);
  }

  read(plain) {
    return readPlain(plain);
  }
}
