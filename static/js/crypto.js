// Protocol cryptography for the browser (PROTOCOL §1-§6).
// Pure: WebCrypto in, bytes out. No DOM, no network, no storage, no logging.
// Every algorithm choice and domain-separation label is named once, below.
// The few low-level helpers marked "shared with groupcrypto.js" are exported for §9 only, so
// group messages reuse these primitives instead of copying them; UI code has no use for them.

import { b64urlDecode, b64urlEncode, concatBytes, utf8Decode, utf8Encode } from './encoding.js';
import { t, tn } from './i18n.js';

// --- Algorithm choices (named once) ---------------------------------------------------
export const VERSION = 1; // shared with groupcrypto.js
export const KEY_BYTES = 32; // AES-256 keys, PBKDF2/HKDF outputs, X25519 keys
const KEY_BITS = KEY_BYTES * 8;
export const NONCE_BYTES = 12; // AES-GCM nonce, fresh and random for every encryption
const CID_BYTES = 16;
const KEY_ID_BYTES = 9; // SHA-256 prefix naming a public key (12 base64url chars)
const PAD_BLOCK = 32;
const PAD_MARK = 0x80;
const SAFETY_GROUPS = 12;
const SAFETY_MODULUS = 100000;
export const HASH = 'SHA-256'; // PBKDF2, HKDF, key ids, file digests
const SAFETY_HASH = 'SHA-512';
const AES = { name: 'AES-GCM', length: KEY_BITS };
const AES_TAG_BITS = 128;
const DH = { name: 'X25519' };
const AES_USAGES = ['encrypt', 'decrypt'];
const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;
const TOKEN_RE = /^[A-Za-z0-9_-]+$/;
const MIN_PASSWORD_CHARS = 8;

// --- Domain-separation labels (PROTOCOL §2-§6) ------------------------------------------
export const LABEL = 'sendapp/v1/'; // shared with groupcrypto.js
const SALT_PREFIX = `${LABEL}user:`;
const INFO_AUTH = `${LABEL}auth`;
const INFO_VAULT = `${LABEL}vault`;
const AAD_VAULT_PREFIX = `${LABEL}vault|`;
const INFO_PAIR_PREFIX = `${LABEL}pair|`;
const AAD_MSG_PREFIX = `${LABEL}msg|`;
const AAD_FILE = `${LABEL}file`;
const SAFETY_PREFIX = `${LABEL}safety|`;

/** Decryption, integrity or key-agreement failure; the message never holds secrets. */
export class CryptoError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'CryptoError';
  }
}

// --- WebCrypto access ---------------------------------------------------------------------
/** Return crypto.subtle, or fail fast: without it nothing here can be safe. */
function subtle() {
  const api = globalThis.crypto?.subtle;
  if (!api) {
    throw new Error(t('WebCrypto (crypto.subtle) is unavailable: open SendApp over HTTPS or on localhost.'));
  }
  return api;
}

/** Throw now if this context cannot run SendApp's cryptography (call once at start-up). */
export function assertWebCrypto() {
  subtle();
  if (typeof globalThis.crypto.getRandomValues !== 'function') {
    throw new Error(t('WebCrypto (crypto.getRandomValues) is unavailable.'));
  }
}

/** Draw n bytes from the platform CSPRNG (shared with groupcrypto.js). */
export function randomBytes(n) {
  subtle();
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

// --- Small helpers ---------------------------------------------------------------------------
/** Require a Uint8Array of an exact length before it reaches a primitive (shared with groupcrypto.js). */
export function requireBytes(value, length, what) {
  if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) {
    throw new TypeError(`${what} must be a Uint8Array${length === undefined ? '' : ` of ${length} bytes`}`);
  }
  return value;
}

/** Render a user id as decimal ASCII, u(x) in the protocol (§1) (shared with groupcrypto.js). */
export function u(id) {
  if (!Number.isSafeInteger(id) || id < 0) throw new TypeError('user ids must be non-negative integers');
  return String(id);
}

/** Validate lo < hi, the order every pair-bound value uses (§4, §6). */
function ordered(lo, hi) {
  const pair = [u(lo), u(hi)];
  if (lo >= hi) throw new RangeError('lo must be the smaller user id');
  return pair;
}

/** Accept a non-empty base64url token, which can never contain the AAD separator (shared with groupcrypto.js). */
export function token(value, what) {
  if (typeof value !== 'string' || !TOKEN_RE.test(value)) throw new TypeError(`${what} must be a base64url string`);
  return value;
}

/** Compare two byte arrays without an early exit (shared with groupcrypto.js). */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** True for a JSON object (not null, not an array) (shared with groupcrypto.js). */
export function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decode one base64url field of a received object, or throw CryptoError (shared with groupcrypto.js). */
export function field(container, name, length) {
  try {
    return b64urlDecode(container[name], length);
  } catch (err) {
    throw new CryptoError(`field "${name}" is missing or malformed`, { cause: err });
  }
}

/** Parse UTF-8 JSON that must be an object, or throw CryptoError (shared with groupcrypto.js). */
export function jsonObject(bytes) {
  let value;
  try {
    value = JSON.parse(utf8Decode(bytes));
  } catch (err) {
    throw new CryptoError('decrypted data is not JSON', { cause: err });
  }
  if (!isObject(value)) throw new CryptoError('decrypted JSON is not an object');
  return value;
}

/** Serialise compact UTF-8 JSON, byte-identical to Python's compact ensure_ascii=False form (§1) (shared with groupcrypto.js). */
export function jsonBytes(value) {
  return utf8Encode(JSON.stringify(value));
}

/** Digest bytes with the named hash (shared with groupcrypto.js). */
export async function digest(hash, bytes) {
  return new Uint8Array(await subtle().digest(hash, bytes));
}

// --- AES-256-GCM: the protocol's only cipher ---------------------------------------------------
/** Import 32 raw bytes as an AES-GCM key (shared with groupcrypto.js). */
export async function importAesKey(raw, extractable = false) {
  requireBytes(raw, KEY_BYTES, 'AES key');
  return subtle().importKey('raw', raw, AES, extractable, AES_USAGES);
}

/** Encrypt with a fresh random nonce unless a test passes one; returns {nonce, ct} (shared with groupcrypto.js). */
export async function seal(key, plain, aad, nonce) {
  const iv = nonce === undefined || nonce === null ? randomBytes(NONCE_BYTES) : requireBytes(nonce, NONCE_BYTES, 'nonce');
  const ct = await subtle().encrypt({ name: AES.name, iv, additionalData: aad, tagLength: AES_TAG_BITS }, key, plain);
  return { nonce: iv, ct: new Uint8Array(ct) };
}

/** Decrypt, turning every failure into CryptoError (shared with groupcrypto.js). */
export async function open(key, nonce, ct, aad) {
  try {
    const plain = await subtle().decrypt({ name: AES.name, iv: nonce, additionalData: aad, tagLength: AES_TAG_BITS }, key, ct);
    return new Uint8Array(plain);
  } catch (err) {
    throw new CryptoError('decryption failed', { cause: err });
  }
}

/** Import 32 raw bytes as a pair key (tests and key caches). */
export async function pairKeyFromRaw(rawBytes) {
  return importAesKey(rawBytes);
}

/** Import 32 raw bytes as a vault key (tests). */
export async function vaultKeyFromRaw(rawBytes) {
  return importAesKey(rawBytes);
}

// --- §1 Normalisation ----------------------------------------------------------------------------
/** NFKC + lower-case a username and check it, so every device derives the same salt (§1). */
export function normaliseUsername(input) {
  if (typeof input !== 'string') throw new TypeError('username must be a string');
  const name = input.normalize('NFKC').toLowerCase();
  if (!USERNAME_RE.test(name)) {
    throw new Error(t('Username must be 3 to 32 characters: a-z, 0-9, ".", "_" or "-".'));
  }
  return name;
}

/** NFKC-normalise a password without judging it (login must accept what registration took). */
function nfkcPassword(pw) {
  if (typeof pw !== 'string') throw new TypeError('password must be a string');
  return pw.normalize('NFKC');
}

/** NFKC-normalise a new password and enforce the 8-character minimum (§1). */
export function normalisePassword(pw) {
  const normalised = nfkcPassword(pw);
  if ([...normalised].length < MIN_PASSWORD_CHARS) {
    throw new Error(tn('Password must be at least {count} character.', 'Password must be at least {count} characters.', MIN_PASSWORD_CHARS));
  }
  return normalised;
}

// --- §2 Account secrets ------------------------------------------------------------------------------
/** Run PBKDF2-HMAC-SHA256 over the password; the slow step that makes guessing expensive (§2). */
async function pbkdf2(password, salt, iterations) {
  const base = await subtle().importKey('raw', utf8Encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle().deriveBits({ name: 'PBKDF2', hash: HASH, salt: utf8Encode(salt), iterations }, base, KEY_BITS);
  return new Uint8Array(bits);
}

/** Import key material for HKDF-SHA256 with an empty salt (§2, §4). */
async function hkdfBase(ikm) {
  return subtle().importKey('raw', ikm, 'HKDF', false, ['deriveBits', 'deriveKey']);
}

/** HKDF parameters for one info label. */
function hkdfParams(info) {
  return { name: 'HKDF', hash: HASH, salt: new Uint8Array(0), info: utf8Encode(info) };
}

/** Expand HKDF to 32 raw bytes. */
async function hkdfBits(base, info) {
  return new Uint8Array(await subtle().deriveBits(hkdfParams(info), base, KEY_BITS));
}

/** Expand HKDF straight into an AES-GCM key, never exposing its bytes unless asked. */
async function hkdfAesKey(base, info, extractable) {
  return subtle().deriveKey(hkdfParams(info), base, AES, extractable, AES_USAGES);
}

/**
 * Derive `auth` (sent instead of the password) and the vault key (kept) (§2).
 * The password is NFKC-normalised here; check new passwords with normalisePassword first.
 * @returns {Promise<{auth: string, vaultKey: CryptoKey, raw?: {master: Uint8Array, authKey: Uint8Array, vaultKey: Uint8Array}}>}
 */
export async function deriveAccountSecrets(username, password, iterations, { exportRaw = false } = {}) {
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive integer');
  const master = await pbkdf2(nfkcPassword(password), SALT_PREFIX + normaliseUsername(username), iterations);
  const base = await hkdfBase(master);
  const authKey = await hkdfBits(base, INFO_AUTH);
  const result = { auth: b64urlEncode(authKey) };
  if (exportRaw) {
    const vaultRaw = await hkdfBits(base, INFO_VAULT);
    result.vaultKey = await importAesKey(vaultRaw);
    result.raw = { master, authKey, vaultKey: vaultRaw };
  } else {
    result.vaultKey = await hkdfAesKey(base, INFO_VAULT, false);
    master.fill(0);
    authKey.fill(0);
  }
  return result;
}

// --- §3 Identity keys and the vault ----------------------------------------------------------------------
/** Create an X25519 key pair as raw bytes, exported once to build the vault (§3). */
export async function generateIdentity() {
  const pair = await subtle().generateKey(DH, true, ['deriveBits']);
  const jwk = await subtle().exportKey('jwk', pair.privateKey);
  const publicRaw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { privateRaw: b64urlDecode(jwk.d, KEY_BYTES), publicRaw };
}

/** Import a vault key record as a non-extractable private key (§3). */
export async function importIdentity({ d, x }) {
  b64urlDecode(d, KEY_BYTES);
  const publicRaw = b64urlDecode(x, KEY_BYTES);
  const jwk = { kty: 'OKP', crv: DH.name, d, x };
  const privateKey = await subtle().importKey('jwk', jwk, DH, false, ['deriveBits']);
  return { privateKey, publicRaw };
}

/** Name a public key by b64url(SHA-256(public_raw)[0:9]) (§3). */
export async function keyId(publicRaw) {
  requireBytes(publicRaw, KEY_BYTES, 'public key');
  return b64urlEncode((await digest(HASH, publicRaw)).subarray(0, KEY_ID_BYTES));
}

/** Build one vault key record, keys in the protocol's order; `id` comes from keyId (§3). */
export function vaultEntry(privateRaw, publicRaw, createdMs, id) {
  requireBytes(privateRaw, KEY_BYTES, 'private key');
  requireBytes(publicRaw, KEY_BYTES, 'public key');
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('vaultEntry needs the key id: await keyId(publicRaw)');
  if (!Number.isSafeInteger(createdMs)) throw new TypeError('createdMs must be an integer');
  return { id, d: b64urlEncode(privateRaw), x: b64urlEncode(publicRaw), created: createdMs };
}

/** Bind a vault to its owner so the server cannot swap vaults between users (§3). */
function vaultAad(username) {
  return utf8Encode(AAD_VAULT_PREFIX + normaliseUsername(username));
}

/**
 * Encrypt the private-key list for storage on the server (§3). `extra` holds the other
 * vault_plain fields (`peers`, and any a newer client wrote), kept as they are.
 */
export async function encryptVault(vaultKey, username, keys, nonce, extra = {}) {
  if (!Array.isArray(keys)) throw new TypeError('keys must be an array of vault entries');
  const sealed = await seal(vaultKey, jsonBytes({ ...extra, v: VERSION, keys }), vaultAad(username), nonce);
  return { v: VERSION, n: b64urlEncode(sealed.nonce), ct: b64urlEncode(sealed.ct) };
}

/** Decrypt a stored vault into {v, keys, ...other fields such as peers}, or throw CryptoError (§3). */
export async function decryptVault(vaultKey, username, vault) {
  if (!isObject(vault) || vault.v !== VERSION) throw new CryptoError('unsupported vault version');
  const plain = jsonObject(await open(vaultKey, field(vault, 'n', NONCE_BYTES), field(vault, 'ct'), vaultAad(username)));
  if (plain.v !== VERSION || !Array.isArray(plain.keys)) throw new CryptoError('vault content is malformed');
  return plain;
}

// --- §4 Pair key --------------------------------------------------------------------------------------------------
/**
 * Bind the pair key to both ids and both key pairs in use (§4). `lo` = `hi` is allowed only
 * with one key on both sides: the self pair that wraps a group message key for the sender's
 * own devices (§9.4).
 */
function pairInfo(lo, hi, loPublicRaw, hiPublicRaw) {
  requireBytes(loPublicRaw, KEY_BYTES, 'lo public key');
  requireBytes(hiPublicRaw, KEY_BYTES, 'hi public key');
  const self = lo === hi && bytesEqual(loPublicRaw, hiPublicRaw);
  const [loText, hiText] = self ? [u(lo), u(hi)] : ordered(lo, hi);
  return `${INFO_PAIR_PREFIX}${loText}|${hiText}|${b64urlEncode(loPublicRaw)}|${b64urlEncode(hiPublicRaw)}`;
}

/** Run X25519 and refuse the all-zero secret a low-order peer point yields. */
async function x25519(ownPrivateKey, peerPublicRaw) {
  let shared;
  try {
    const peer = await subtle().importKey('raw', peerPublicRaw, DH, true, []);
    shared = new Uint8Array(await subtle().deriveBits({ name: DH.name, public: peer }, ownPrivateKey, KEY_BITS));
  } catch (err) {
    throw new CryptoError('key agreement failed', { cause: err });
  }
  if (shared.every((b) => b === 0)) throw new CryptoError('key agreement failed');
  return shared;
}

/**
 * Derive the AES-GCM key two friends share for one pair of key pairs (§4); with `lo` = `hi`
 * and one key on both sides, the self pair key (§9.4). Non-extractable unless a test asks to
 * compare bytes.
 */
export async function derivePairKey(ownPrivateKey, peerPublicRaw, lo, hi, loPublicRaw, hiPublicRaw, { extractable = false } = {}) {
  requireBytes(peerPublicRaw, KEY_BYTES, 'peer public key');
  const info = pairInfo(lo, hi, loPublicRaw, hiPublicRaw);
  if (!bytesEqual(peerPublicRaw, loPublicRaw) && !bytesEqual(peerPublicRaw, hiPublicRaw)) {
    throw new CryptoError("peer key must be the pair's lo or hi key");
  }
  const shared = await x25519(ownPrivateKey, peerPublicRaw);
  const base = await hkdfBase(shared);
  shared.fill(0);
  return hkdfAesKey(base, info, extractable);
}

// --- §5 Messages --------------------------------------------------------------------------------------------------
/** Append 0x80 then zeros up to a multiple of 32 so sizes leak only coarsely (§5). */
export function pad(bytes) {
  requireBytes(bytes, undefined, 'pad input');
  const out = new Uint8Array(Math.ceil((bytes.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  out.set(bytes);
  out[bytes.length] = PAD_MARK;
  return out;
}

/** Strip canonical §5 padding, or throw CryptoError if it is not exactly that. */
export function unpad(bytes) {
  requireBytes(bytes, undefined, 'unpad input');
  if (bytes.length === 0 || bytes.length % PAD_BLOCK !== 0) throw new CryptoError('padded data has a bad length');
  let end = bytes.length - 1;
  while (end >= 0 && bytes[end] === 0) end -= 1;
  if (end < 0 || bytes[end] !== PAD_MARK || bytes.length - 1 - end >= PAD_BLOCK) throw new CryptoError('bad padding');
  return bytes.slice(0, end);
}

/** Build the AAD that pins sender, recipient, cid and both key ids (§5). */
export function messageAad(from, to, cid, sk, rk) {
  const parts = [u(from), u(to), token(cid, 'cid'), token(sk, 'sk'), token(rk, 'rk')];
  return utf8Encode(AAD_MSG_PREFIX + parts.join('|'));
}

/** Make a client message id: 16 random bytes, b64url (§5). */
export function newCid() {
  return b64urlEncode(randomBytes(CID_BYTES));
}

/** Encrypt a message object into the envelope a client emits with `send` (§5). */
export async function encryptMessage(pairKey, { from, to, cid, sk, rk }, plainObject, nonce) {
  if (!isObject(plainObject)) throw new TypeError('message plaintext must be an object');
  const id = cid ?? newCid();
  const aad = messageAad(from, to, id, sk, rk);
  const sealed = await seal(pairKey, pad(jsonBytes(plainObject)), aad, nonce);
  return { v: VERSION, cid: id, to, sk, rk, n: b64urlEncode(sealed.nonce), ct: b64urlEncode(sealed.ct) };
}

/** Decrypt a relayed envelope (with server-set `from`), or throw CryptoError (§5). */
export async function decryptMessage(pairKey, envelope) {
  if (!isObject(envelope) || envelope.v !== VERSION) throw new CryptoError('unsupported envelope version');
  let aad;
  try {
    aad = messageAad(envelope.from, envelope.to, envelope.cid, envelope.sk, envelope.rk);
  } catch (err) {
    throw new CryptoError('envelope is malformed', { cause: err });
  }
  const padded = await open(pairKey, field(envelope, 'n', NONCE_BYTES), field(envelope, 'ct'), aad);
  return jsonObject(unpad(padded));
}

// --- §5 Attachments ------------------------------------------------------------------------------------------------
/** Digest a `file` message carries: SHA-256 of the plaintext, b64url (§5). */
async function fileDigest(bytes) {
  return b64urlEncode(await digest(HASH, bytes));
}

/**
 * Encrypt an attachment under a fresh file key before upload (§5).
 * `sha256` is the digest of the *plaintext* (the `file` vector pins this).
 * @returns {Promise<{ct: Uint8Array, key: string, n: string, sha256: string}>}
 */
export async function encryptFile(bytes, key, nonce) {
  requireBytes(bytes, undefined, 'file');
  const raw = key === undefined || key === null ? randomBytes(KEY_BYTES) : requireBytes(key, KEY_BYTES, 'file key');
  const sealed = await seal(await importAesKey(raw), bytes, utf8Encode(AAD_FILE), nonce);
  return { ct: sealed.ct, key: b64urlEncode(raw), n: b64urlEncode(sealed.nonce), sha256: await fileDigest(bytes) };
}

/**
 * Decrypt a downloaded blob and check the plaintext SHA-256, or throw CryptoError (§5).
 * A null/undefined sha256B64 skips the digest check (GCM still authenticates).
 */
export async function decryptFile(ct, keyB64, nB64, sha256B64) {
  requireBytes(ct, undefined, 'file ciphertext');
  const refs = { key: keyB64, n: nB64 };
  const key = await importAesKey(field(refs, 'key', KEY_BYTES));
  const plain = await open(key, field(refs, 'n', NONCE_BYTES), ct, utf8Encode(AAD_FILE));
  if (sha256B64 !== undefined && sha256B64 !== null) {
    const expected = utf8Encode(String(sha256B64));
    if (!bytesEqual(utf8Encode(await fileDigest(plain)), expected)) throw new CryptoError('file digest mismatch');
  }
  return plain;
}

// --- §6 Safety numbers -------------------------------------------------------------------------------------------
/** Compute the 60 digits both friends compare to detect a swapped key (§6). */
export async function safetyNumber(lo, loPublicRaw, hi, hiPublicRaw) {
  const [loText, hiText] = ordered(lo, hi);
  requireBytes(loPublicRaw, undefined, 'lo public key');
  requireBytes(hiPublicRaw, undefined, 'hi public key');
  const hash = await digest(SAFETY_HASH, concatBytes(
    utf8Encode(`${SAFETY_PREFIX}${loText}|`), loPublicRaw, utf8Encode(`|${hiText}|`), hiPublicRaw,
  ));
  const groups = [];
  for (let i = 0; i < SAFETY_GROUPS; i += 1) {
    let value = 0;
    for (const byte of hash.subarray(5 * i, 5 * i + 5)) value = value * 256 + byte;
    groups.push(String(value % SAFETY_MODULUS).padStart(5, '0'));
  }
  return groups.join(' ');
}
