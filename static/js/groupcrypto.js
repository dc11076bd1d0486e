// Group cryptography for the browser (PROTOCOL §9.3, §9.4).
// Pure: WebCrypto in, bytes out. No DOM, no network, no storage, no logging.
// A group message is sealed once under a fresh message key K, and K is wrapped for every
// member, the sender included, under the §4 pair key. The primitives (AES-GCM, X25519, HKDF,
// padding, JSON) are crypto.js's; this module adds only the §9 labels, AADs and envelope.

import {
  CryptoError, HASH, KEY_BYTES, LABEL, NONCE_BYTES, VERSION, bytesEqual, derivePairKey, digest, field,
  importAesKey, isObject, jsonBytes, jsonObject, newCid, open, pad, randomBytes, requireBytes, seal,
  token, u, unpad,
} from './crypto.js';
import { b64urlEncode, utf8Encode } from './encoding.js';

// --- Domain-separation labels and sizes (PROTOCOL §9.3, §9.4) -------------------------------
const AAD_GMSG_PREFIX = `${LABEL}gmsg|`;
const AAD_GWRAP_PREFIX = `${LABEL}gwrap|`;
const WRAP_BYTES = KEY_BYTES + 16; // a wrapped K: 32 bytes of key and a 16-byte GCM tag
const GROUP_TYPE = 'group';
export const MAX_NAME_CODE_POINTS = 100;

// --- §9.4 Keys ------------------------------------------------------------------------------
/**
 * Derive the pair key that wraps K between me and a member, myself included (§4, §9.4).
 * `peerPublicRaw` is the member's key named by `rk` (or the sender's, named by `sk`); for my
 * own entry it is my own public key. Non-extractable unless a test asks to compare bytes.
 */
export async function deriveGroupPairKey(ownPrivateKey, ownId, ownPublicRaw, peerId, peerPublicRaw, options = {}) {
  if (peerId === ownId) {
    if (!bytesEqual(requireBytes(ownPublicRaw, KEY_BYTES, 'own public key'), requireBytes(peerPublicRaw, KEY_BYTES, 'public key'))) {
      throw new CryptoError('the self pair needs my own public key');
    }
    return deriveSelfPairKey(ownPrivateKey, ownId, ownPublicRaw, options);
  }
  const meLo = ownId < peerId; // derivePairKey checks the ids themselves
  const [lo, hi] = meLo ? [ownId, peerId] : [peerId, ownId];
  const [loRaw, hiRaw] = meLo ? [ownPublicRaw, peerPublicRaw] : [peerPublicRaw, ownPublicRaw];
  return derivePairKey(ownPrivateKey, peerPublicRaw, lo, hi, loRaw, hiRaw, options);
}

/** Derive the self pair key, §4 with lo = hi = me and my one key on both sides (§9.4). */
export async function deriveSelfPairKey(ownPrivateKey, userId, ownPublicRaw, { extractable = false } = {}) {
  return derivePairKey(ownPrivateKey, ownPublicRaw, userId, userId, ownPublicRaw, ownPublicRaw, { extractable });
}

// --- §9.4 AADs and the ciphertext hash ---------------------------------------------------------
/** Build the AAD of `ct`: group, sender, cid and sender key (§9.4). */
export function groupMessageAad(g, from, cid, sk) {
  return utf8Encode(AAD_GMSG_PREFIX + [u(g), u(from), token(cid, 'cid'), token(sk, 'sk')].join('|'));
}

/** Build the AAD of one wrap, binding it to its member, both keys and this `ct` (§9.4). */
export function groupWrapAad(g, from, member, cid, sk, rk, h) {
  const parts = [u(g), u(from), u(member), token(cid, 'cid'), token(sk, 'sk'), token(rk, 'rk'), token(h, 'h')];
  return utf8Encode(AAD_GWRAP_PREFIX + parts.join('|'));
}

/** Name the exact `ct` a wrap accepts: b64url(SHA-256(raw ct)), `h` in §9.4. */
export async function ciphertextHash(ctBytes) {
  return b64urlEncode(await digest(HASH, requireBytes(ctBytes, undefined, 'ct')));
}

// --- §9.4 Sealing --------------------------------------------------------------------------------
/**
 * Seal a plaintext for a group and wrap its key for every member into a `send` envelope (§9.4).
 * `recipients` are the current members, [{to, rk, pairKey}], in the order their entries take,
 * the sender included with rk = sk and its self pair key. A retry after `stale_members` passes
 * the same `cid` (§9.5). `messageKey` (32 bytes), `nonce` and `wrapNonces` (a Map or object by
 * user id) exist for the vectors: left out, each is drawn fresh.
 */
export async function sealGroupMessage({ g, from, sk, cid }, recipients, plainObject, { messageKey, nonce, wrapNonces } = {}) {
  if (!isObject(plainObject)) throw new TypeError('message plaintext must be an object');
  const members = checkedRecipients(recipients, from, sk);
  const id = cid ?? newCid();
  const fresh = messageKey === undefined || messageKey === null;
  const raw = fresh ? randomBytes(KEY_BYTES) : requireBytes(messageKey, KEY_BYTES, 'message key');
  try {
    const sealed = await seal(await importAesKey(raw), pad(jsonBytes(plainObject)), groupMessageAad(g, from, id, sk), nonce);
    const h = await ciphertextHash(sealed.ct);
    const keys = [];
    for (const { to, rk, pairKey } of members) {
      const wrap = await seal(pairKey, raw, groupWrapAad(g, from, to, id, sk, rk, h), nonceFor(wrapNonces, to));
      keys.push({ to, rk, n: b64urlEncode(wrap.nonce), w: b64urlEncode(wrap.ct) });
    }
    return { v: VERSION, cid: id, g, sk, n: b64urlEncode(sealed.nonce), ct: b64urlEncode(sealed.ct), keys };
  } finally {
    if (fresh) raw.fill(0);
  }
}

/** Refuse a member list the server would refuse: repeats, or no self entry under `sk` (§9.5). */
function checkedRecipients(recipients, from, sk) {
  if (!Array.isArray(recipients)) throw new TypeError('recipients must be an array');
  const seen = new Set();
  for (const r of recipients) {
    if (!isObject(r)) throw new TypeError('each recipient must be {to, rk, pairKey}');
    u(r.to);
    token(r.rk, 'rk');
    if (!r.pairKey || r.pairKey.type !== 'secret' || r.pairKey.algorithm?.name !== 'AES-GCM') {
      throw new TypeError('pairKey must be an AES-GCM CryptoKey');
    }
    if (seen.has(r.to)) throw new Error(`user ${r.to} is listed twice`);
    seen.add(r.to);
  }
  const own = recipients.find((r) => r.to === from);
  if (!own) throw new Error('the sender must wrap the key for itself too (§9.4)');
  if (own.rk !== sk) throw new Error("the sender's own entry must have rk = sk (§9.5)");
  return recipients;
}

/** The test-injected nonce of one wrap, if any. */
function nonceFor(wrapNonces, to) {
  if (!wrapNonces) return undefined;
  return wrapNonces instanceof Map ? wrapNonces.get(to) : wrapNonces[to];
}

// --- §9.4 Opening ----------------------------------------------------------------------------------
/** Return my entry of a group envelope, to pick the pair key for its `rk`, or throw CryptoError. */
export function groupEntry(envelope, me) {
  const keys = isObject(envelope) ? envelope.keys : undefined;
  if (!Array.isArray(keys)) throw new CryptoError('group envelope has no keys');
  const mine = keys.filter((e) => isObject(e) && e.to === me);
  if (mine.length !== 1) throw new CryptoError('group envelope has no single entry for this member');
  return mine[0];
}

/**
 * Open my wrap of a received group envelope and return K's 32 bytes, or throw CryptoError (§9.4).
 * `pairKey` is that of my key `rk` and the sender's key `sk` (deriveGroupPairKey); `h` is
 * computed here from the received `ct`.
 */
export async function unwrapMessageKey(pairKey, envelope, me) {
  checkVersion(envelope);
  const entry = groupEntry(envelope, me);
  const h = await ciphertextHash(field(envelope, 'ct'));
  let aad;
  try {
    aad = groupWrapAad(envelope.g, envelope.from, me, envelope.cid, envelope.sk, entry.rk, h);
  } catch (err) {
    throw new CryptoError('group envelope is malformed', { cause: err });
  }
  const raw = await open(pairKey, field(entry, 'n', NONCE_BYTES), field(entry, 'w', WRAP_BYTES), aad);
  if (raw.length !== KEY_BYTES) throw new CryptoError('wrapped message key has a bad length');
  return raw;
}

/** Open `ct` with a known K (32 bytes or a CryptoKey) and remove the padding, or throw CryptoError (§9.4). */
export async function openGroupContent(messageKey, envelope) {
  checkVersion(envelope);
  let aad;
  try {
    aad = groupMessageAad(envelope.g, envelope.from, envelope.cid, envelope.sk);
  } catch (err) {
    throw new CryptoError('group envelope is malformed', { cause: err });
  }
  const key = messageKey instanceof Uint8Array ? await importAesKey(requireBytes(messageKey, KEY_BYTES, 'message key')) : messageKey;
  const padded = await open(key, field(envelope, 'n', NONCE_BYTES), field(envelope, 'ct'), aad);
  return jsonObject(unpad(padded));
}

/**
 * Decrypt a delivered group envelope (with server-set `from`) for member `me` (§9.4). Any
 * failure throws CryptoError; the caller shows "could not decrypt", never drops it silently.
 */
export async function openGroupMessage(pairKey, envelope, me) {
  const raw = await unwrapMessageKey(pairKey, envelope, me);
  let key;
  try {
    key = await importAesKey(raw);
  } finally {
    raw.fill(0);
  }
  return openGroupContent(key, envelope);
}

/** Refuse anything but a version-1 envelope object. */
function checkVersion(envelope) {
  if (!isObject(envelope) || envelope.v !== VERSION) throw new CryptoError('unsupported envelope version');
}

// --- §9.3 Group plaintexts ---------------------------------------------------------------------------
/** The UTF-16 index where the first `limit` code points of `text` end (a lone surrogate counts 1). */
function codePointEnd(text, limit) {
  if (typeof text !== 'string') throw new TypeError('expected a string');
  let i = 0;
  for (let count = 0; i < text.length && count < limit; count += 1) i += text.codePointAt(i) > 0xffff ? 2 : 1;
  return i;
}

/** Count Unicode code points, not UTF-16 units: an emoji counts 1 (§9.3). */
export function codePointLength(text) {
  if (typeof text !== 'string') throw new TypeError('expected a string');
  let count = 0;
  for (let i = 0; i < text.length; i += text.codePointAt(i) > 0xffff ? 2 : 1) count += 1;
  return count;
}

/** Cut a received name to the first 100 code points, all a receiver shows (§9.3). */
export function shownGroupName(name) {
  return name.slice(0, codePointEnd(name, MAX_NAME_CODE_POINTS));
}

/**
 * Build the `group` plaintext an admin seals after a change or to rename (§9.3).
 * `name` has 0 to 100 code points ("" leaves the group unnamed); members and admins are
 * sorted, and every admin must be a member (§9.1).
 */
export function groupPlaintext(name, members, admins, sent) {
  if (typeof name !== 'string') throw new TypeError('name must be a string');
  if (typeof name.isWellFormed === 'function' && !name.isWellFormed()) throw new TypeError('name contains a lone surrogate');
  if (codePointLength(name) > MAX_NAME_CODE_POINTS) {
    throw new RangeError(`a group name has at most ${MAX_NAME_CODE_POINTS} characters`);
  }
  const memberIds = sortedIds(members, 'members');
  const adminIds = sortedIds(admins, 'admins');
  requireAdminsAreMembers(memberIds, adminIds);
  return { t: GROUP_TYPE, name, members: memberIds, admins: adminIds, sent: ms(sent) };
}

/**
 * Check a received `group` plaintext; return its known fields, name cut to 100 code points
 * (§9.3). Throws TypeError when it is not a well-formed `group` message (the caller shows it
 * as a system line and applies nothing, §9.6).
 */
export function readGroupPlaintext(plain) {
  if (!isObject(plain) || plain.t !== GROUP_TYPE) throw new TypeError('not a group message');
  if (typeof plain.name !== 'string') throw new TypeError('group name must be a string');
  const members = ascendingIds(plain.members, 'members');
  const admins = ascendingIds(plain.admins, 'admins');
  requireAdminsAreMembers(members, admins);
  return { t: GROUP_TYPE, name: shownGroupName(plain.name), members, admins, sent: ms(plain.sent) };
}

/** Sort and de-duplicate user ids for a plaintext we build. */
function sortedIds(values, what) {
  if (!Array.isArray(values)) throw new TypeError(`${what} must be an array of user ids`);
  for (const id of values) u(id);
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Accept received user ids only as an array in strictly ascending order (§9.3). */
function ascendingIds(values, what) {
  if (!Array.isArray(values)) throw new TypeError(`${what} must be an array`);
  values.forEach((id, i) => {
    u(id);
    if (i > 0 && values[i - 1] >= id) throw new TypeError(`${what} must be in ascending order without repeats`);
  });
  return [...values];
}

/** Every admin is a member (§9.1). */
function requireAdminsAreMembers(members, admins) {
  const set = new Set(members);
  if (!admins.every((id) => set.has(id))) throw new TypeError('every admin must be a member');
}

/** Check a timestamp in milliseconds. */
function ms(value) {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError('sent must be a time in milliseconds');
  return value;
}
