// Accepted key ids travel in the vault (PROTOCOL §3, §6): login reads them (older vaults
// without them too), pins friends seen for the first time, and accepting writes them back.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as crypto from '../../static/js/crypto.js';
import { b64urlEncode } from '../../static/js/encoding.js';
import { writePeers } from '../../static/js/pins.js';
import * as session from '../../static/js/session.js';
import { MemoryBackend, Store } from '../../static/js/store.js';

const PASSWORD = 'correct horse battery';
const ITERATIONS = 1000;
// The test harness lowers the PBKDF2 floor, as the browser tests do with an init script.
globalThis.__sendappTestKdfFloor = ITERATIONS;

/** A fake server for one account whose vault holds one key and, optionally, `peers`. */
async function server({ peers, friends = [] } = {}) {
  const { privateRaw, publicRaw } = await crypto.generateIdentity();
  const id = await crypto.keyId(publicRaw);
  const entry = crypto.vaultEntry(privateRaw, publicRaw, 1, id);
  let { auth, vaultKey } = await crypto.deriveAccountSecrets('alice', PASSWORD, ITERATIONS);
  const extra = peers === undefined ? {} : { peers, future: 'kept' };
  const state = { vault: await crypto.encryptVault(vaultKey, 'alice', [entry], undefined, extra), puts: [], conflicts: 0 };
  const user = { id: 1, username: 'alice', created: 1, key_id: id };
  state.api = {
    prelogin: async () => ({ kdf: 'pbkdf2-sha256', iterations: ITERATIONS }),
    login: async (body) => {
      if (body.auth !== auth) throw Object.assign(new Error('wrong'), { code: 'unauthorized' });
      return { user, vault: state.vault, csrf_token: 't' };
    },
    me: async () => ({ user }),
    friends: async () => ({ friends, incoming: [], outgoing: [] }),
    putVault: async (body) => {
      if (body.auth !== auth) throw Object.assign(new Error('wrong password'), { code: 'unauthorized' });
      if (body.base && JSON.stringify(body.base) !== JSON.stringify(state.vault)) {
        state.conflicts += 1;
        throw Object.assign(new Error('changed on another device'), { code: 'conflict', details: { vault: state.vault } });
      }
      state.vault = body.vault;
      if (body.new_auth) auth = body.new_auth;
      state.puts.push(body);
      return { user };
    },
  };
  state.open = async () => crypto.decryptVault(vaultKey, 'alice', state.vault);
  state.backend = new MemoryBackend();
  state.openStore = async (owner) => new Store(state.backend, owner);
  return state;
}

test('login keeps the vault\'s accepted key ids on the device and writes nothing when nothing is new', async () => {
  const s = await server({ peers: { 2: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'] }, friends: [{ id: 2, username: 'bob', key_id: 'BBBBBBBBBBBB' }] });
  await session.login({ api: s.api, openStore: s.openStore }, { username: 'alice', password: PASSWORD });
  const store = await s.openStore(1);
  assert.deepEqual((await store.peer(2)).accepted, ['AAAAAAAAAAAA', 'BBBBBBBBBBBB']);
  assert.equal(s.puts.length, 0);
});

test('an older vault without peers opens; friends are pinned on first use and saved in the vault', async () => {
  const s = await server({ friends: [{ id: 2, username: 'bob', key_id: 'BBBBBBBBBBBB' }, { id: 3, username: 'carol', key_id: null }] });
  await session.login({ api: s.api, openStore: s.openStore }, { username: 'alice', password: PASSWORD });
  assert.equal(s.puts.length, 1);
  assert.equal(s.puts[0].public_key, undefined, 'no new key');
  const plain = await s.open();
  assert.deepEqual(plain.peers, { 2: ['BBBBBBBBBBBB'] });
  assert.equal(plain.keys.length, 1, 'the private keys are kept');
});

test('accepting a key writes it into the vault, keeping fields this client does not know', async () => {
  const s = await server({ peers: { 2: ['AAAAAAAAAAAA'] }, friends: [{ id: 2, username: 'bob', key_id: 'AAAAAAAAAAAA' }] });
  await session.login({ api: s.api, openStore: s.openStore }, { username: 'alice', password: PASSWORD });
  const store = await s.openStore(1);
  const deps = { api: s.api, store };
  await assert.rejects(session.acceptPeerKeys(deps, { username: 'alice', password: 'not my password', peers: new Map() }), /Wrong password/);
  const merged = await session.acceptPeerKeys(deps, { username: 'alice', password: PASSWORD, peers: new Map([[2, new Set(['CCCCCCCCCCCC'])]]) });
  assert.deepEqual(writePeers(merged), { 2: ['AAAAAAAAAAAA', 'CCCCCCCCCCCC'] });
  const plain = await s.open();
  assert.deepEqual(plain.peers, { 2: ['AAAAAAAAAAAA', 'CCCCCCCCCCCC'] });
  assert.equal(plain.future, 'kept');
  assert.deepEqual((await store.peer(2)).accepted, ['AAAAAAAAAAAA', 'CCCCCCCCCCCC']);
  // A second device logging in now trusts the same ids.
  const other = new Store(new MemoryBackend(), 1);
  await session.login({ api: s.api, openStore: async () => other }, { username: 'alice', password: PASSWORD });
  assert.deepEqual((await other.peer(2)).accepted, ['AAAAAAAAAAAA', 'CCCCCCCCCCCC']);
});

test('accepting a key refuses a server announcing fewer iterations than the floor', async () => {
  const s = await server({ peers: { 2: ['AAAAAAAAAAAA'] } });
  await session.login({ api: s.api, openStore: s.openStore }, { username: 'alice', password: PASSWORD });
  const deps = { api: s.api, store: await s.openStore(1), minIterations: ITERATIONS + 1 };
  await assert.rejects(session.acceptPeerKeys(deps, { username: 'alice', password: PASSWORD, peers: new Map() }),
    (err) => err.code === 'weak_kdf');
  assert.equal(s.puts.length, 0, 'nothing derived from the password was sent');
});

test('two devices rewriting the vault from the same copy keep both changes', async () => {
  const s = await server({ peers: { 2: ['AAAAAAAAAAAA'] }, friends: [{ id: 2, username: 'bob', key_id: 'AAAAAAAAAAAA' }] });
  const phone = new Store(new MemoryBackend(), 1);
  const laptop = new Store(new MemoryBackend(), 1);
  for (const store of [phone, laptop]) {
    await session.login({ api: s.api, openStore: async () => store }, { username: 'alice', password: PASSWORD });
  }
  await session.acceptPeerKeys({ api: s.api, store: phone }, { username: 'alice', password: PASSWORD, peers: new Map([[2, new Set(['CCCCCCCCCCCC'])]]) });
  // The laptop's copy predates the phone's write: refused once, then applied to the stored vault.
  const merged = await session.acceptPeerKeys({ api: s.api, store: laptop }, { username: 'alice', password: PASSWORD, peers: new Map([[3, new Set(['DDDDDDDDDDDD'])]]) });
  assert.equal(s.conflicts, 1);
  assert.deepEqual(writePeers(merged), { 2: ['AAAAAAAAAAAA', 'CCCCCCCCCCCC'], 3: ['DDDDDDDDDDDD'] });
  assert.deepEqual((await s.open()).peers, { 2: ['AAAAAAAAAAAA', 'CCCCCCCCCCCC'], 3: ['DDDDDDDDDDDD'] });
  assert.deepEqual((await laptop.peer(2)).accepted, ['AAAAAAAAAAAA', 'CCCCCCCCCCCC']);
  assert.deepEqual(await laptop.getMeta('vault'), s.vault, 'the laptop now holds the stored vault');

  // A password change from the phone's stale copy keeps the laptop's accepted key too.
  const NEW = 'a new horse battery';
  await session.changePassword({ api: s.api, store: phone }, { username: 'alice', password: PASSWORD, newPassword: NEW, confirm: NEW });
  assert.equal(s.conflicts, 2);
  const { vaultKey } = await crypto.deriveAccountSecrets('alice', NEW, ITERATIONS);
  const plain = await crypto.decryptVault(vaultKey, 'alice', s.vault);
  assert.deepEqual(plain.peers, { 2: ['AAAAAAAAAAAA', 'CCCCCCCCCCCC'], 3: ['DDDDDDDDDDDD'] });
  assert.equal(plain.keys.length, 1);

  // The old password proves nothing any more: the laptop's write is refused.
  await assert.rejects(
    session.acceptPeerKeys({ api: s.api, store: laptop }, { username: 'alice', password: PASSWORD, peers: new Map([[4, new Set(['EEEEEEEEEEEE'])]]) }),
    (err) => err.code === 'unauthorized');
  assert.deepEqual((await crypto.decryptVault(vaultKey, 'alice', s.vault)).peers[4], undefined, 'nothing was overwritten');
});

test('a login that pins a friend while another device writes the vault keeps both writes', async () => {
  const s = await server({ peers: { 2: ['AAAAAAAAAAAA'] }, friends: [{ id: 3, username: 'carol', key_id: 'CCCCCCCCCCCC' }] });
  const phone = new Store(new MemoryBackend(), 1);
  await session.login({ api: s.api, openStore: async () => phone }, { username: 'alice', password: PASSWORD });
  const friends = s.api.friends;
  s.api.friends = async () => { // the phone accepts a key between the laptop's login and its write
    s.api.friends = friends;
    await session.acceptPeerKeys({ api: s.api, store: phone }, { username: 'alice', password: PASSWORD, peers: new Map([[2, new Set(['BBBBBBBBBBBB'])]]) });
    const answer = await friends();
    return { ...answer, friends: [...answer.friends, { id: 4, username: 'dan', key_id: 'DDDDDDDDDDDD' }] }; // new to pin
  };
  const laptop = new Store(new MemoryBackend(), 1);
  await session.login({ api: s.api, openStore: async () => laptop }, { username: 'alice', password: PASSWORD });
  assert.equal(s.conflicts, 1);
  const expected = { 2: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'], 3: ['CCCCCCCCCCCC'], 4: ['DDDDDDDDDDDD'] };
  assert.deepEqual((await s.open()).peers, expected);
  assert.deepEqual((await laptop.peer(2)).accepted, expected[2]);
  assert.deepEqual(await laptop.getMeta('vault'), s.vault);
});
