// Account flows (PROTOCOL §2, §3, §7): register, log in, log out.
// The password never leaves this module: the server gets `auth`, the vault key stays here,
// and private keys end up in the store as non-extractable CryptoKeys for this session only.

import * as defaultCrypto from './crypto.js';
import { b64urlEncode } from './encoding.js';
import { t } from './i18n.js';
import { mergePeers, peersFromRecords, readPeers, samePeers, writePeers } from './pins.js';

/** The label of each step a login or registration shows (a function: the catalogue loads after
 * the modules are evaluated). */
export function stepLabel(step) {
  switch (step) {
    case 'prelogin': return t('Checking the account…');
    case 'derive': return t('Deriving keys…');
    case 'keypair': return t('Creating your key pair…');
    case 'account': return t('Creating your account…');
    case 'login': return t('Signing in…');
    case 'vault': return t('Unlocking your key vault…');
    case 'store': return t('Keeping your keys on this device…');
    case 'done': return t('Done');
    default: return step;
  }
}

/** A failure the form can explain; `field` names the input at fault, when one is. */
export class SessionError extends Error {
  constructor(message, { field = null, code = null } = {}) {
    super(message);
    this.name = 'SessionError';
    this.field = field;
    this.code = code;
  }
}

/**
 * PROTOCOL §2: never derive with fewer PBKDF2 iterations than this, whatever the server
 * announces (a hostile server could announce 1 to make guessing the password from `auth`
 * cheap). Nothing the server sends can lower it; browser tests lower it by defining
 * `globalThis.__sendappTestKdfFloor` before any page script runs (Playwright init script).
 */
export const MIN_KDF_ITERATIONS = 100000;

/** The floor in force: MIN_KDF_ITERATIONS unless a test harness lowered it. */
export function kdfFloor(scope = globalThis) {
  const lowered = scope?.__sendappTestKdfFloor;
  return Number.isSafeInteger(lowered) && lowered > 0 ? lowered : MIN_KDF_ITERATIONS;
}

/** Refuse an iteration count below the floor before anything is derived from the password. */
export function checkIterations(iterations, floor = kdfFloor()) {
  if (!Number.isSafeInteger(iterations) || iterations < floor) {
    throw new SessionError(t('The server asks for only {iterations} key-derivation rounds; this app requires at least {floor}. Your password was not used. Ask the administrator to check the server.',
      { iterations, floor }), { code: 'weak_kdf' });
  }
  return iterations;
}

/** prelogin → the floor check → derive (§2): the one path from a password to `auth` and `vault_key`. */
async function deriveChecked({ api, crypto, minIterations, progress = () => {} }, name, password) {
  const { iterations } = await api.prelogin(name);
  checkIterations(iterations, minIterations);
  progress('derive', stepLabel('derive'));
  return { iterations, ...(await crypto.deriveAccountSecrets(name, password, iterations)) };
}

/** "Could not <action>." as a whole sentence, with the reason when there is one. */
function couldNot(action, reason) {
  switch (action) {
    case 'register': return reason ? t('Could not create the account: {reason}', { reason }) : t('Could not create the account.');
    case 'login': return reason ? t('Could not log in: {reason}', { reason }) : t('Could not log in.');
    case 'accept-key': return reason ? t('Could not accept the key: {reason}', { reason }) : t('Could not accept the key.');
    case 'change-password': return reason ? t('Could not change the password: {reason}', { reason }) : t('Could not change the password.');
    case 'delete-account': return reason ? t('Could not delete the account: {reason}', { reason }) : t('Could not delete the account.');
    default: return reason ? t('Something went wrong: {reason}', { reason }) : t('Something went wrong.');
  }
}

function explain(err, action) {
  if (err instanceof SessionError) return err;
  const code = err?.code;
  if (code === 'unauthorized') return new SessionError(t('Wrong username or password.'), { code });
  if (code === 'conflict' && action === 'register') return new SessionError(t('That username is taken. Choose another one.'), { field: 'username', code });
  if (code === 'conflict') return new SessionError(t('Your key vault was changed on another device at the same moment. Try again.'), { code });
  if (code === 'offline') return new SessionError(t('The server cannot be reached. Check your connection and try again.'), { code });
  if (code === 'rate_limited') return new SessionError(t('Too many attempts. Wait a minute and try again.'), { code });
  if (code === 'forbidden') return new SessionError(err.message || t('This account cannot log in.'), { code });
  if (code) return new SessionError(err.message || couldNot(action), { code });
  return new SessionError(couldNot(action, err?.message || String(err)));
}

/**
 * Import vault entries as non-extractable keys and keep them in the store for this session.
 * Replaces whatever identity keys this device held (one account per browser at a time).
 */
export async function storeIdentities({ store, crypto = defaultCrypto, entries, currentId }) {
  const records = [];
  for (const entry of entries) {
    const { privateKey, publicRaw } = await crypto.importIdentity({ d: entry.d, x: entry.x });
    const id = await crypto.keyId(publicRaw);
    if (id !== entry.id) throw new SessionError(t('Your key vault holds a damaged key.'));
    records.push({ id, privateKey, publicRaw, created: entry.created, current: id === currentId });
  }
  await store.clearIdentities();
  await store.saveIdentities(records);
  return records;
}

/** Make a fresh key pair as a vault entry (the raw private key lives only until encrypted). */
async function newEntry(crypto) {
  const { privateRaw, publicRaw } = await crypto.generateIdentity();
  const id = await crypto.keyId(publicRaw);
  const entry = crypto.vaultEntry(privateRaw, publicRaw, Date.now(), id);
  privateRaw.fill(0);
  return { entry, publicRaw };
}

/**
 * Create an account: prelogin → derive → key pair + vault → POST /api/register.
 * @param {{api: import('./api.js').Api, openStore: (userId: number) => Promise<import('./store.js').Store>,
 *          crypto?: object, progress?: (step: string, label: string) => void}} deps
 * @returns {Promise<object>} the new user
 */
export async function register({ api, openStore, crypto = defaultCrypto, progress = () => {}, minIterations = kdfFloor() },
  { username, password, confirm }) {
  let name;
  let pw;
  try {
    name = crypto.normaliseUsername(username);
  } catch (err) {
    throw new SessionError(err.message, { field: 'username' });
  }
  try {
    pw = crypto.normalisePassword(password);
  } catch (err) {
    throw new SessionError(err.message, { field: 'password' });
  }
  if (confirm !== undefined && confirm !== password) {
    throw new SessionError(t('The two passwords differ.'), { field: 'confirm' });
  }
  try {
    progress('prelogin', stepLabel('prelogin'));
    const { iterations, auth, vaultKey } = await deriveChecked({ api, crypto, minIterations, progress }, name, pw);
    progress('keypair', stepLabel('keypair'));
    const { entry, publicRaw } = await newEntry(crypto);
    const vault = await crypto.encryptVault(vaultKey, name, [entry]);
    progress('account', stepLabel('account'));
    const { user } = await api.register({ username: name, auth, iterations, vault, public_key: b64urlEncode(publicRaw) });
    progress('store', stepLabel('store'));
    const store = await openStore(user.id);
    await storeIdentities({ store, crypto, entries: [entry], currentId: user.key_id });
    await keepPeers(store, new Map(), vault);
    progress('done', stepLabel('done'));
    return user;
  } catch (err) {
    throw explain(err, 'register');
  }
}

/**
 * Log in: prelogin → derive → POST /api/login → decrypt the vault → keep the keys.
 * When the server has no vault (an account made by the admin CLI, or after an admin
 * password reset) a first key pair and vault are made and sent with PUT /api/me/vault.
 */
export async function login({ api, openStore, crypto = defaultCrypto, progress = () => {}, minIterations = kdfFloor() },
  { username, password }) {
  let name;
  try {
    name = crypto.normaliseUsername(username);
  } catch (err) {
    throw new SessionError(err.message, { field: 'username' });
  }
  if (!password) throw new SessionError(t('Enter your password.'), { field: 'password' });
  try {
    progress('prelogin', stepLabel('prelogin'));
    const { auth, vaultKey } = await deriveChecked({ api, crypto, minIterations, progress }, name, password);
    progress('login', stepLabel('login'));
    const answer = await api.login({ username: name, auth });
    let { user } = answer;
    progress('vault', stepLabel('vault'));
    let opened = null; // the stored vault's content: keys, peers, and any field a newer client wrote
    if (answer.vault) {
      try {
        opened = await crypto.decryptVault(vaultKey, name, answer.vault);
      } catch (err) {
        throw new SessionError(t('Your key vault could not be opened with this password. Ask the administrator to reset your account.'),
          { code: 'vault' });
      }
    }
    let entries = opened ? opened.keys : [];
    const store = await openStore(user.id);
    const saved = readPeers(opened?.peers);
    let peers = await pinPeers({ api, store }, saved);
    let vault = answer.vault;
    let publicKey = null;
    if (!entries.some((entry) => entry.id === user.key_id)) {
      // No usable current key: make one, keep older keys so old messages stay readable.
      progress('keypair', stepLabel('keypair'));
      const made = await newEntry(crypto);
      entries = [...entries, made.entry];
      publicKey = b64urlEncode(made.publicRaw);
    }
    if (publicKey || !samePeers(saved, peers)) {
      const ours = entries;
      const written = await rewriteVault({ api, crypto }, {
        name, openKey: vaultKey, base: answer.vault, plain: opened,
        body: { auth, ...(publicKey ? { public_key: publicKey } : {}) },
        // `stored` is the vault read at login, or after a conflict what another device wrote
        // meanwhile: keep its keys, fields and accepted keys as well as ours.
        rewrite: (stored) => ({
          keys: unionKeys(stored?.keys || [], ours),
          fields: { ...(stored ? vaultFields(stored) : {}), peers: writePeers(mergePeers(readPeers(stored?.peers), peers)) },
        }),
      });
      ({ vault, keys: entries } = written);
      peers = readPeers(written.fields.peers);
      ({ user } = written.answer);
    }
    progress('store', stepLabel('store'));
    await storeIdentities({ store, crypto, entries, currentId: user.key_id });
    await keepPeers(store, peers, vault);
    progress('done', stepLabel('done'));
    return user;
  } catch (err) {
    throw explain(err, 'login');
  }
}

/**
 * The key ids to trust per friend at login (PROTOCOL §6): the vault's, plus those this device
 * accepted, plus each friend's current key for friends with none yet (trust on first use).
 */
async function pinPeers({ api, store }, saved) {
  const peers = mergePeers(saved, peersFromRecords(await store.peerRecords()));
  let friends = [];
  try {
    ({ friends = [] } = await api.friends());
  } catch {
    return peers; // first use is then decided on the chat page
  }
  for (const friend of friends) {
    if (Number.isInteger(friend.id) && typeof friend.key_id === 'string' && !peers.has(friend.id)) {
      peers.set(friend.id, new Set([friend.key_id]));
    }
  }
  return peers;
}

/** Keep the accepted key ids (now in the vault) and the vault's ciphertext on this device. */
async function keepPeers(store, peers, vault) {
  for (const [user, ids] of peers) await store.setPeer(user, { accepted: [...ids].sort(), synced: true });
  await store.setMeta('vault', vault);
}

/**
 * Accept friends' keys on every device of the user: add `peers` (Map user id → Set of key
 * ids) to the vault's `peers` and save it (PUT /api/me/vault needs `auth`, so this asks for
 * the password). Answers the accepted sets now in the vault.
 */
export async function acceptPeerKeys({ api, store, crypto = defaultCrypto, minIterations = kdfFloor() },
  { username, password, peers }) {
  if (!password) throw new SessionError(t('Enter your password.'), { field: 'password' });
  try {
    const opened = await openCachedVault({ api, store, crypto, minIterations }, username, password, 'password');
    const written = await rewriteVault({ api, crypto }, {
      ...opened, openKey: opened.vaultKey, body: { auth: opened.auth },
      rewrite: (plain) => ({
        keys: plain.keys,
        fields: { ...vaultFields(plain), peers: writePeers(mergePeers(readPeers(plain.peers), peers)) },
      }),
    });
    const merged = readPeers(written.fields.peers);
    await keepPeers(store, merged, written.vault);
    return merged;
  } catch (err) {
    throw explain(err, 'accept-key');
  }
}

/**
 * Open this device's copy of the vault with the current password (PROTOCOL §3), after
 * checking it still holds the account's current key. Answers what rewriteVault needs.
 */
async function openCachedVault({ api, store, crypto, minIterations }, username, password, field) {
  const name = crypto.normaliseUsername(username);
  const cached = await store.getMeta('vault', null);
  if (!cached) throw new SessionError(t('This device holds no copy of your key vault. Log in again, then try again.'), { code: 'vault' });
  const { iterations, auth, vaultKey } = await deriveChecked({ api, crypto, minIterations }, name, password);
  let plain;
  try {
    plain = await crypto.decryptVault(vaultKey, name, cached);
  } catch {
    throw new SessionError(t('Wrong password.'), { field, code: 'password' });
  }
  const { user } = await api.me();
  const keyId = user.key_id;
  checkCurrentKey(plain, keyId);
  return { name, iterations, auth, vaultKey, base: cached, plain, keyId };
}

/** A vault without the account's current key was made before a reset elsewhere. */
function checkCurrentKey(plain, keyId) {
  if (keyId && !plain.keys.some((entry) => entry.id === keyId)) {
    throw new SessionError(t('Your keys changed on another device. Log in again here, then try again.'), { code: 'stale' });
  }
}

/** The vault's fields besides its version and keys (peers, and any a newer client wrote). */
function vaultFields(plain) {
  const { v, keys, ...fields } = plain;
  return fields;
}

/** Keys of both lists, each id once (the first list's entry wins). */
function unionKeys(first, second) {
  const ids = new Set(first.map((entry) => entry.id));
  return [...first, ...second.filter((entry) => !ids.has(entry.id))];
}

/**
 * Write the vault (PUT /api/me/vault) as `rewrite(plain)` makes it ({keys, fields}) from
 * `plain`, the content of `base`, the stored vault it was read from. The server takes it only
 * while `base` is still the stored one: when another device wrote the vault meanwhile, the
 * answer is `conflict` with the vault stored now, and `rewrite` is applied to that one and
 * sent once more (docs/PROTOCOL.md, key pinning), so neither device's change is lost.
 * `openKey` opens stored vaults, `sealKey` (a password change's new key) seals the new one.
 */
async function rewriteVault({ api, crypto }, { name, openKey, sealKey = openKey, base, plain, keyId = null, body, rewrite }) {
  let stored = base;
  let content = plain;
  for (let attempt = 0; ; attempt += 1) {
    const { keys, fields } = rewrite(content);
    const vault = await crypto.encryptVault(sealKey, name, keys, undefined, fields);
    try {
      const answer = await api.putVault({ ...body, vault, ...(stored ? { base: stored } : {}) });
      return { vault, keys, fields, answer };
    } catch (err) {
      if (attempt > 0 || err?.code !== 'conflict' || !err.details?.vault) throw err;
      stored = err.details.vault;
      try {
        content = await crypto.decryptVault(openKey, name, stored);
      } catch {
        throw new SessionError(t('Your password was changed on another device. Log in again here with the new one.'), { code: 'stale' });
      }
      checkCurrentKey(content, keyId);
    }
  }
}

/**
 * Change the password (PROTOCOL §2-3): derive the new secrets, re-encrypt the same keys (and
 * every other vault field) under the new vault key, and replace `auth` with PUT /api/me/vault
 * (the old `auth` proves the caller). The identity keys do not change, so history stays
 * readable; the server signs out every other session of the account.
 */
export async function changePassword({ api, store, crypto = defaultCrypto, minIterations = kdfFloor() },
  { username, password, newPassword, confirm }) {
  if (!password) throw new SessionError(t('Enter your current password.'), { field: 'current' });
  let fresh;
  try {
    fresh = crypto.normalisePassword(newPassword);
  } catch (err) {
    throw new SessionError(t('The new password needs at least 8 characters.'), { field: 'new' });
  }
  if (confirm !== undefined && confirm !== newPassword) {
    throw new SessionError(t('The two new passwords differ.'), { field: 'confirm' });
  }
  try {
    const opened = await openCachedVault({ api, store, crypto, minIterations }, username, password, 'current');
    const next = await crypto.deriveAccountSecrets(opened.name, fresh, opened.iterations);
    const written = await rewriteVault({ api, crypto }, {
      ...opened, openKey: opened.vaultKey, sealKey: next.vaultKey,
      body: { auth: opened.auth, new_auth: next.auth },
      rewrite: (plain) => ({ keys: plain.keys, fields: vaultFields(plain) }),
    });
    await store.setMeta('vault', written.vault);
  } catch (err) {
    if (err?.code === 'unauthorized') throw new SessionError(t('Wrong password.'), { field: 'current', code: 'password' });
    throw explain(err, 'change-password');
  }
}

/**
 * Delete the account: prove the password as login does (prelogin → derive → `auth`), then
 * DELETE /api/me; then forget everything this device holds for the account.
 */
export async function deleteAccount({ api, store, crypto = defaultCrypto, minIterations = kdfFloor(), forgetPages = async () => {} },
  { username, password }) {
  if (!password) throw new SessionError(t('Enter your password.'), { field: 'password' });
  try {
    const name = crypto.normaliseUsername(username);
    const { auth } = await deriveChecked({ api, crypto, minIterations }, name, password);
    await api.deleteAccount(auth);
  } catch (err) {
    if (err?.code === 'unauthorized') throw new SessionError(t('Wrong password.'), { field: 'password', code: 'password' });
    throw explain(err, 'delete-account');
  }
  try {
    await store.clearOwner();
  } finally {
    await forgetDevice({ store, forgetPages });
  }
}

/**
 * Forget this device's secrets of every session (keys, cached ciphertext, snapshots, peer
 * keys) and the kept chat page. Each part is attempted even when another fails.
 */
export async function forgetDevice({ store, forgetPages = async () => {} }) {
  try {
    await store.forgetSecrets();
  } finally {
    await forgetPages();
  }
}

/**
 * Log out: end the server session, and forget this device's secrets whatever the server
 * answered (offline, 503, 429…). Answers whether the server confirmed the end of the session.
 */
export async function logout({ api, store, forgetPages = async () => {} }) {
  try {
    await api.logout();
    return true;
  } catch (err) {
    return err?.code === 'unauthorized'; // already ended
  } finally {
    await forgetDevice({ store, forgetPages });
  }
}
