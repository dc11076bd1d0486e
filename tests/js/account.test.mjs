// The account in the user's hands (issue 11): a password change re-seals the same keys under
// the new password; deleting the account proves the password and forgets the device's data;
// the history export decrypts into JSON and text.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildExport, exportText, fetchAll } from '../../static/js/chat/export.js';
import * as crypto from '../../static/js/crypto.js';
import * as session from '../../static/js/session.js';
import { MemoryBackend, Store } from '../../static/js/store.js';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a new horse battery';
const ITERATIONS = 1000;
globalThis.__sendappTestKdfFloor = ITERATIONS;

/** A fake server for alice: one key in the vault (with a field this client does not know). */
async function server() {
  const { privateRaw, publicRaw } = await crypto.generateIdentity();
  const id = await crypto.keyId(publicRaw);
  const entry = crypto.vaultEntry(privateRaw, publicRaw, 1, id);
  const secrets = await crypto.deriveAccountSecrets('alice', PASSWORD, ITERATIONS);
  const state = {
    auth: secrets.auth,
    vault: await crypto.encryptVault(secrets.vaultKey, 'alice', [entry], undefined, { peers: { 2: ['AAAAAAAAAAAA'] }, future: 'kept' }),
    puts: [],
    deleted: [],
    keyId: id,
  };
  const user = { id: 1, username: 'alice', created: 1, key_id: id };
  const refuse = () => { throw Object.assign(new Error('wrong password'), { code: 'unauthorized' }); };
  state.api = {
    prelogin: async () => ({ kdf: 'pbkdf2-sha256', iterations: ITERATIONS }),
    me: async () => ({ user }),
    putVault: async (body) => {
      if (body.auth !== state.auth) refuse();
      state.puts.push(body);
      state.vault = body.vault;
      if (body.new_auth) state.auth = body.new_auth;
      return { user };
    },
    deleteAccount: async (auth) => {
      if (auth !== state.auth) refuse();
      state.deleted.push(auth);
      return null;
    },
  };
  state.store = new Store(new MemoryBackend(), 1);
  await state.store.setMeta('vault', state.vault);
  return state;
}

test('a password change re-seals the same keys and other vault fields under the new password', async () => {
  const s = await server();
  const deps = { api: s.api, store: s.store };
  await assert.rejects(session.changePassword(deps, { username: 'alice', password: 'wrong one!', newPassword: NEW_PASSWORD, confirm: NEW_PASSWORD }),
    (err) => err.field === 'current' && /Wrong password/.test(err.message));
  await assert.rejects(session.changePassword(deps, { username: 'alice', password: PASSWORD, newPassword: 'short', confirm: 'short' }),
    (err) => err.field === 'new');
  await assert.rejects(session.changePassword(deps, { username: 'alice', password: PASSWORD, newPassword: NEW_PASSWORD, confirm: 'different pw' }),
    (err) => err.field === 'confirm');
  assert.equal(s.puts.length, 0, 'nothing was sent for a refused change');

  await session.changePassword(deps, { username: 'alice', password: PASSWORD, newPassword: NEW_PASSWORD, confirm: NEW_PASSWORD });
  assert.equal(s.puts.length, 1);
  const fresh = await crypto.deriveAccountSecrets('alice', NEW_PASSWORD, ITERATIONS);
  assert.equal(s.puts[0].new_auth, fresh.auth);
  const plain = await crypto.decryptVault(fresh.vaultKey, 'alice', s.vault);
  assert.equal(plain.keys[0].id, s.keyId, 'the identity key is unchanged: history stays readable');
  assert.deepEqual(plain.peers, { 2: ['AAAAAAAAAAAA'] });
  assert.equal(plain.future, 'kept');
  assert.deepEqual(await s.store.getMeta('vault'), s.vault, 'this device keeps the new vault');
  const old = await crypto.deriveAccountSecrets('alice', PASSWORD, ITERATIONS);
  await assert.rejects(crypto.decryptVault(old.vaultKey, 'alice', s.vault));
});

test('deleting the account proves the password like login, then forgets this device', async () => {
  const s = await server();
  await s.store.saveIdentities([{ id: 'x', privateKey: null, publicRaw: new Uint8Array(32), created: 1, current: true }]);
  await s.store.setMeta('cursor', 5);
  const deps = { api: s.api, store: s.store };
  await assert.rejects(session.deleteAccount(deps, { username: 'alice', password: 'not it at all' }), /Wrong password/);
  assert.equal((await s.store.identities()).length, 1, 'a refused deletion forgets nothing');
  await session.deleteAccount(deps, { username: 'alice', password: PASSWORD });
  assert.deepEqual(s.deleted, [s.auth]);
  assert.equal((await s.store.identities()).length, 0);
  assert.equal(await s.store.getMeta('cursor'), null);
  assert.equal(await s.store.getMeta('vault'), null);
});

test('the export pages through sync from 0 and groups decrypted messages per conversation', async () => {
  const pages = [
    { ok: true, messages: [{ id: 1, from: 2, to: 1, cid: 'a', ts: 0 }, { id: 2, from: 1, g: 7, cid: 'b', ts: 60_000 }], more: true, last: 4 },
    { ok: true, messages: [{ id: 4, from: 1, to: 2, cid: 'c', ts: 120_000 }, { id: 5, from: 3, to: 1, cid: 'd', ts: 180_000 }], more: false, last: 5 },
  ];
  const asked = [];
  const request = async (name, data) => {
    asked.push([name, data]);
    return pages[asked.length - 1];
  };
  const envelopes = await fetchAll(request);
  assert.deepEqual(asked, [['sync', { after: 0, limit: 500 }], ['sync', { after: 2, limit: 500 }]]);
  const plains = {
    a: { kind: 'text', body: 'hello alice' },
    b: { kind: 'text', body: 'hello group' },
    c: { kind: 'file', file: { name: 'cat.png', mime: 'image/png', size: 12, key: 'secret', blob: 'b1' } },
  };
  const kind = {
    open: async (env) => { if (!plains[env.cid]) throw new Error('cannot'); return env.cid; },
    read: (cid) => plains[cid],
  };
  const names = { 1: 'alice', 2: 'bob', 3: 'carol' };
  const client = {
    me: { id: 1, username: 'alice' },
    nameOf: (id) => names[id],
    keyOfEnvelope: (env) => (env.g ? `g:${env.g}` : (env.from === 1 ? env.to : env.from)),
    kindOf: () => kind,
    group: (key) => (key === 'g:7' ? { title: 'Club' } : undefined),
  };
  const data = await buildExport(client, envelopes, { now: 0 });
  assert.deepEqual(data.conversations.map((c) => c.kind), ['pair', 'group', 'pair']);
  const bob = data.conversations[0];
  assert.deepEqual(bob.with, { id: 2, username: 'bob' });
  assert.deepEqual(bob.messages.map((m) => m.type), ['text', 'file']);
  assert.deepEqual(bob.messages[1].file, { name: 'cat.png', mime: 'image/png', size: 12 }, 'no attachment key or blob id');
  assert.equal(data.conversations[2].messages[0].type, 'error', 'an undecryptable message is kept, marked');
  const text = exportText(data);
  assert.match(text, /== Conversation with bob ==\n\[1970-01-01 00:00 UTC\] bob: hello alice\n/);
  assert.match(text, /== Group: Club ==\n\[1970-01-01 00:01 UTC\] alice: hello group/);
  assert.match(text, /alice sent a file: cat\.png \(12 bytes, not included\)/);
  assert.doesNotMatch(text, /secret/);
});

test('the export asks a rate-limited page again after a pause', async () => {
  const answers = [
    { ok: false, error: 'rate_limited', message: 'slow down' },
    { ok: true, messages: [{ id: 3, from: 2, to: 1, cid: 'a' }], more: false, last: 3 },
  ];
  const asked = [];
  const waits = [];
  const envelopes = await fetchAll(async (name, data) => { asked.push(data); return answers[asked.length - 1]; },
    { wait: async (ms) => { waits.push(ms); } });
  assert.deepEqual(envelopes.map((e) => e.id), [3]);
  assert.deepEqual(asked, [{ after: 0, limit: 500 }, { after: 0, limit: 500 }]);
  assert.deepEqual(waits, [1000]);
  await assert.rejects(fetchAll(async () => ({ ok: false, error: 'forbidden', message: 'no' })), /no/);
});
