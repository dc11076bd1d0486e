// Keys in use (PROTOCOL §3, §4, §6): own identity keys from the store, friends' public keys
// from the API (remembered in the store for offline use), and pair keys cached per
// (own key, peer key) as non-extractable AES-GCM CryptoKeys. No DOM.
// A friend's key is kept only when its id is the hash of its bytes (pins.js), and a key once
// known under an id is never replaced: which ids to trust is chat/keys.js's decision (pins.js).

import * as defaultCrypto from './crypto.js';
import { groupEntry, openGroupMessage, sealGroupMessage } from './groupcrypto.js';
import { verifiedKey } from './pins.js';
import { t } from './i18n.js';

export class KeyError extends Error {
  constructor(message, code = 'unknown_key') {
    super(message);
    this.name = 'KeyError';
    this.code = code;
  }
}

export class Keyring {
  /**
   * @param {{me: number, store: import('./store.js').Store, api: import('./api.js').Api, crypto?: object,
   *   onRejected?: (userId: number, keyId: string) => void}} deps  onRejected: the server listed
   *   a key whose id is not its hash (it was dropped)
   */
  constructor({ me, store, api, crypto = defaultCrypto, onRejected = () => {} }) {
    this.me = me;
    this.store = store;
    this.api = api;
    this.crypto = crypto;
    this.onRejected = onRejected;
    this.own = new Map(); // key id → {id, privateKey, publicRaw, current}
    this.currentId = null;
    this.peers = new Map(); // user id → Map(key id → {raw, current, created})
    this.fetching = new Map(); // user id → Promise
    this.stale = new Set(); // user ids whose list must be fetched again
    this.pairKeys = new Map(); // "peer|own kid|peer kid" → Promise<CryptoKey>
  }

  /** Load this session's identity keys; answers false when the device holds none. */
  async load(currentId) {
    const records = await this.store.identities();
    this.own = new Map(records.map((r) => [r.id, r]));
    this.currentId = currentId && this.own.has(currentId) ? currentId
      : (records.find((r) => r.current) || records[records.length - 1] || {}).id || null;
    return this.own.size > 0 && this.currentId !== null && (!currentId || this.own.has(currentId));
  }

  current() {
    return this.own.get(this.currentId) || null;
  }

  /** Public keys of a user: from memory, else the store, else (or when `refresh`) the API. */
  async peerKeys(userId, { refresh = false } = {}) {
    if (this.stale.delete(userId)) refresh = true;
    if (!refresh && this.peers.has(userId)) return this.peers.get(userId);
    if (!refresh) {
      const stored = await this.store.peerKeys(userId);
      if (stored.length) {
        await this.remember(userId, stored);
        if (this.peers.get(userId).size) return this.peers.get(userId);
      }
    }
    if (!this.peers.has(userId)) await this.remember(userId, await this.store.peerKeys(userId));
    if (!this.fetching.has(userId)) {
      const job = this.api.keys(userId)
        .then(async ({ keys }) => {
          const kept = await this.remember(userId, keys, { fromServer: true });
          await this.store.savePeerKeys(userId, kept);
          return this.peers.get(userId);
        })
        .finally(() => this.fetching.delete(userId));
      this.fetching.set(userId, job);
    }
    return this.fetching.get(userId);
  }

  /**
   * Add a user's keys to what we know; answers the ones kept. A key whose id is not its hash
   * is dropped (and reported when it came from the server and we hold no good key of that id);
   * a key known under an id keeps its bytes (an id names one key only), only the `current`
   * flag follows the newest list.
   */
  async remember(userId, keys, { fromServer = false } = {}) {
    const map = new Map(this.peers.get(userId) || []);
    if (fromServer) for (const [id, key] of map) map.set(id, { ...key, current: false });
    const kept = [];
    for (const key of keys || []) {
      const checked = await verifiedKey(this.crypto, key);
      if (!checked) {
        // Unusable unless we already hold the key this id names (then we keep using that one).
        if (fromServer && !map.has(key?.id)) this.onRejected(userId, typeof key?.id === 'string' ? key.id : '');
        continue;
      }
      const known = map.get(checked.id);
      map.set(checked.id, { raw: known ? known.raw : checked.raw, current: checked.current, created: checked.created });
      kept.push({ id: checked.id, public_key: key.public_key, created: key.created, current: checked.current });
    }
    this.peers.set(userId, map);
    return kept;
  }

  /** The raw public key `keyId` of `userId`, fetching the list again once if unknown. */
  async peerPublic(userId, keyId) {
    let keys = await this.peerKeys(userId);
    if (!keys.has(keyId)) keys = await this.peerKeys(userId, { refresh: true });
    const key = keys.get(keyId);
    if (!key) throw new KeyError(t('Unknown key {key} of user {user}.', { key: keyId, user: userId }));
    return key.raw;
  }

  /** The pair key for (own key, peer key), derived once per session (§4). */
  pairKey(peerId, ownKid, peerKid) {
    const cacheKey = `${peerId}|${ownKid}|${peerKid}`;
    if (!this.pairKeys.has(cacheKey)) {
      const job = (async () => {
        const own = this.own.get(ownKid);
        if (!own) throw new KeyError(t('This device does not hold your key {key}.', { key: ownKid }), 'missing_own_key');
        // The self pair of §9.4 (my own entry of a group message): my key on both sides.
        const peerRaw = peerId === this.me && peerKid === ownKid ? own.publicRaw : await this.peerPublic(peerId, peerKid);
        const meLo = this.me < peerId;
        const [lo, hi] = meLo ? [this.me, peerId] : [peerId, this.me];
        const [loRaw, hiRaw] = meLo ? [own.publicRaw, peerRaw] : [peerRaw, own.publicRaw];
        return this.crypto.derivePairKey(own.privateKey, peerRaw, lo, hi, loRaw, hiRaw);
      })();
      job.catch(() => this.pairKeys.delete(cacheKey)); // let a later attempt fetch keys again
      this.pairKeys.set(cacheKey, job);
    }
    return this.pairKeys.get(cacheKey);
  }

  /** Encrypt a message object for a friend whose current key is `peerKid` (§5). */
  async encryptFor(peerId, peerKid, plain, cid = null) {
    const own = this.current();
    if (!own) throw new KeyError(t('This device holds no key of yours. Log in again.'), 'missing_own_key');
    const pairKey = await this.pairKey(peerId, own.id, peerKid);
    const header = { from: this.me, to: peerId, cid: cid || this.crypto.newCid(), sk: own.id, rk: peerKid };
    return this.crypto.encryptMessage(pairKey, header, plain);
  }

  /** Decrypt a relayed envelope to or from a friend (§5). */
  async decrypt(envelope) {
    const outgoing = envelope.from === this.me;
    const peerId = outgoing ? envelope.to : envelope.from;
    const ownKid = outgoing ? envelope.sk : envelope.rk;
    const peerKid = outgoing ? envelope.rk : envelope.sk;
    const pairKey = await this.pairKey(peerId, ownKid, peerKid);
    return this.crypto.decryptMessage(pairKey, envelope);
  }

  /**
   * Seal a plaintext for a group (§9.4): one wrap per member of `members` ([{id, key_id}],
   * myself included, whose entry uses my current key), with `cid` when resealing (§9.5).
   */
  async encryptForGroup(groupId, members, plain, cid = null) {
    const own = this.current();
    if (!own) throw new KeyError(t('This device holds no key of yours. Log in again.'), 'missing_own_key');
    const recipients = [];
    for (const member of members) {
      const rk = member.id === this.me ? own.id : member.key_id;
      recipients.push({ to: member.id, rk, pairKey: await this.pairKey(member.id, own.id, rk) });
    }
    return sealGroupMessage({ g: groupId, from: this.me, sk: own.id, cid: cid || this.crypto.newCid() }, recipients, plain);
  }

  /** Decrypt a delivered group envelope with my entry's key and the sender's `sk` (§9.4). */
  async decryptGroup(envelope) {
    const entry = groupEntry(envelope, this.me);
    const pairKey = await this.pairKey(envelope.from, entry.rk, envelope.sk);
    return openGroupMessage(pairKey, envelope, this.me);
  }

  /** The 60-digit safety number of me and a friend's key `peerKid` (§6). */
  async safetyNumber(peerId, peerKid) {
    const own = this.current();
    if (!own) throw new KeyError(t('This device holds no key of yours. Log in again.'), 'missing_own_key');
    const peerRaw = await this.peerPublic(peerId, peerKid);
    const meLo = this.me < peerId;
    return meLo ? this.crypto.safetyNumber(this.me, own.publicRaw, peerId, peerRaw)
      : this.crypto.safetyNumber(peerId, peerRaw, this.me, own.publicRaw);
  }

  /** Fetch a friend's list again on next use (after key_changed); known keys stay known. */
  forgetPeer(userId) {
    this.stale.add(userId);
  }
}
