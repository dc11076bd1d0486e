// Key pinning (PROTOCOL §3, §6): which public keys of a friend this client may use.
// The server only stores and relays keys; it must not be able to choose them. So a key
// counts only when its id is the hash of its bytes, and a friend's key is trusted only when
// its id is in the set the user accepted. That set lives in the vault's `peers`, so every
// device of the user trusts the same keys. Pure: no DOM, no network, no storage.

import { b64urlDecode } from './encoding.js';

const KEY_ID = /^[A-Za-z0-9_-]{12}$/;
const USER_ID = /^[1-9][0-9]{0,15}$/;

/** What a key id means for a friend: accepted, first use (nothing accepted yet), or changed. */
export const TRUST = Object.freeze({ ACCEPTED: 'accepted', FIRST_USE: 'first_use', CHANGED: 'changed' });

/**
 * A key from the server as {id, raw, current, created}, or null when its bytes are malformed
 * or its id is not b64url(SHA-256(public)[0:9]): such a key is dropped and never used.
 * @param {{keyId: (raw: Uint8Array) => Promise<string>}} crypto
 */
export async function verifiedKey(crypto, key) {
  if (!key || typeof key.id !== 'string' || !KEY_ID.test(key.id)) return null;
  try {
    const raw = b64urlDecode(key.public_key, 32);
    if ((await crypto.keyId(raw)) !== key.id) return null;
    return { id: key.id, raw, current: Boolean(key.current), created: key.created ?? null };
  } catch {
    return null;
  }
}

/** How `keyId` stands against the accepted set of one friend (a Set, or null/empty: none yet). */
export function judge(accepted, keyId) {
  if (!accepted || accepted.size === 0) return TRUST.FIRST_USE;
  return accepted.has(keyId) ? TRUST.ACCEPTED : TRUST.CHANGED;
}

/** The vault's `peers` ({"<user id>": [key id, …]}) as Map(user id → Set); junk is skipped. */
export function readPeers(value) {
  const peers = new Map();
  if (!value || typeof value !== 'object' || Array.isArray(value)) return peers;
  for (const [user, ids] of Object.entries(value)) {
    if (!USER_ID.test(user) || !Array.isArray(ids)) continue;
    const good = ids.filter((id) => typeof id === 'string' && KEY_ID.test(id));
    if (good.length) peers.set(Number(user), new Set(good));
  }
  return peers;
}

/** Map(user id → Set of key ids) as the vault's `peers` field (sorted, so it compares equal). */
export function writePeers(peers) {
  const out = {};
  for (const user of [...peers.keys()].sort((a, b) => a - b)) {
    const ids = [...peers.get(user)].sort();
    if (ids.length) out[String(user)] = ids;
  }
  return out;
}

/** The union of accepted sets: accepting only ever adds a key, never drops one. */
export function mergePeers(...maps) {
  const merged = new Map();
  for (const map of maps) {
    for (const [user, ids] of map) {
      if (!merged.has(user)) merged.set(user, new Set());
      for (const id of ids) merged.get(user).add(id);
    }
  }
  return merged;
}

/** True when two accepted-set maps hold the same ids. */
export function samePeers(a, b) {
  return JSON.stringify(writePeers(a)) === JSON.stringify(writePeers(b));
}

/**
 * This device's records ({accepted: [ids], synced} per friend; records written before pinning
 * had one `acked` id) as Map(user id → Set).
 */
export function peersFromRecords(records) {
  const peers = new Map();
  for (const [user, record] of records) {
    const ids = Array.isArray(record?.accepted) ? record.accepted : record?.acked ? [record.acked] : [];
    const good = ids.filter((id) => typeof id === 'string' && KEY_ID.test(id));
    if (good.length) peers.set(user, new Set(good));
  }
  return peers;
}
