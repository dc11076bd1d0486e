// Orchestration with real cryptography and fakes for the network: de-duplication, visible
// decryption failures, delivery states and key-change warnings.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ChatClient } from '../../static/js/chat/client.js';
import { readPlain } from '../../static/js/chat/plaintext.js';
import * as crypto from '../../static/js/crypto.js';
import { b64urlEncode } from '../../static/js/encoding.js';
import { Keyring } from '../../static/js/keyring.js';
import { STATUS } from '../../static/js/outbox.js';
import { MemoryBackend, Store } from '../../static/js/store.js';

async function identity() {
  const { privateRaw, publicRaw } = await crypto.generateIdentity();
  const id = await crypto.keyId(publicRaw);
  const { privateKey } = await crypto.importIdentity({ d: b64urlEncode(privateRaw), x: b64urlEncode(publicRaw) });
  return { id, privateKey, publicRaw, created: 1, current: true };
}

class FakeTransport extends EventTarget {
  constructor() {
    super();
    this.connected = true;
    this.sent = [];
    this.nextId = 100;
    this.acks = [];
  }
  on(name, handler) { this.addEventListener(name, (e) => handler(e.detail)); }
  async request(name, data) {
    this.sent.push([name, data]);
    if (name === 'send') {
      const ack = { ok: true, id: this.nextId++, ts: 1_700_000_000_000 };
      this.acks.push({ ...data, id: ack.id, ts: ack.ts });
      return ack;
    }
    return { ok: true };
  }
  notify(name, data) { this.sent.push([name, data]); }
  async connect() {}
}

/** Two users with keys, each with a client; the "server" is the shared public-key table. */
async function setup() {
  const keys = new Map(); // user id → [{id, public_key, created, current}]
  const users = {};
  for (const [id, name] of [[1, 'alice'], [2, 'bob']]) {
    const ident = await identity();
    keys.set(id, [{ id: ident.id, public_key: b64urlEncode(ident.publicRaw), created: 1, current: true }]);
    users[name] = { id, name, ident };
  }
  for (const user of Object.values(users)) {
    const store = new Store(new MemoryBackend(), user.id);
    await store.saveIdentities([user.ident]);
    const api = { keys: async (id) => ({ keys: keys.get(id) }) };
    const keyring = new Keyring({ me: user.id, store, api });
    await keyring.load(user.ident.id);
    const transport = new FakeTransport();
    const vault = { peers: new Map(), passwords: [] }; // what acceptInVault saved, as the vault would hold it
    const acceptInVault = async (peers, password) => {
      if (password !== 'right password') throw new Error('Wrong password.');
      vault.passwords.push(password);
      vault.peers = peers;
      return peers;
    };
    const client = new ChatClient({ me: { id: user.id, username: user.name, keyId: user.ident.id }, api, store, transport, keyring, acceptInVault });
    const other = user.id === 1 ? users.bob : users.alice;
    client.applyFriends({ friends: [{ id: other.id, username: other.name, since: 1, online: true, key_id: other.ident.id }] });
    Object.assign(user, { store, keyring, transport, client, vault });
  }
  return { users, keys };
}

test('readPlain accepts the two message types and flags anything else', () => {
  assert.equal(readPlain({ t: 'text', body: 'x', sent: 1 }).kind, 'text');
  assert.equal(readPlain({ t: 'file', name: 'a', mime: 'Image/PNG', size: 3, blob: 'b', key: 'k', n: 'n', sha256: 's' }).file.mime, 'image/png');
  assert.equal(readPlain({ t: 'video' }).kind, 'error');
  assert.equal(readPlain({ t: 'text', body: 5 }).kind, 'error');
});

test('a message arriving live and again through sync is shown once, as literal text', async () => {
  const { users: { alice, bob } } = await setup();
  const body = '<img src=x onerror=alert(1)> שלום 👋';
  await alice.client.sendText(bob.id, body);
  await alice.client.outbox.flush();
  const stored = alice.transport.acks[0];
  const wire = { ...stored, from: alice.id };
  await bob.client.ingest([wire], 'live');
  await bob.client.ingest([wire], 'sync');
  await bob.client.ingest([wire], 'history');
  const list = bob.client.conv(alice.id).list.list();
  assert.equal(list.length, 1);
  assert.equal(list[0].kind, 'text');
  assert.equal(list[0].body, body);
  assert.equal(bob.client.friends.get(alice.id).unread, 1);
});

test('a tampered envelope becomes a visible "could not decrypt" item', async () => {
  const { users: { alice, bob } } = await setup();
  await alice.client.sendText(bob.id, 'secret');
  await alice.client.outbox.flush();
  const wire = { ...alice.transport.acks[0], from: alice.id };
  const flipped = wire.ct[5] === 'A' ? 'B' : 'A';
  const tampered = { ...wire, ct: wire.ct.slice(0, 5) + flipped + wire.ct.slice(6) };
  await bob.client.ingest([tampered], 'live');
  const [message] = bob.client.conv(alice.id).list.list();
  assert.equal(message.kind, 'error');
  assert.match(message.error, /Could not decrypt/);
  // Re-labelled by the server: from another user → also fails visibly.
  const relabelled = { ...wire, cid: crypto.newCid(), id: wire.id + 1 };
  relabelled.to = 3;
  await bob.client.ingest([relabelled], 'live');
  assert.equal(bob.client.conv(alice.id).list.size, 1, 'a message not addressed to me is ignored');
});

test('own messages go sending → sent → delivered → read', async () => {
  const { users: { alice, bob } } = await setup();
  const cid = await alice.client.sendText(bob.id, 'hello');
  await alice.client.outbox.flush();
  const conv = alice.client.conv(bob.id);
  const key = `${alice.id}:${cid}`;
  assert.equal(conv.list.get(key).status, STATUS.SENT);
  assert.deepEqual(await alice.store.outboxList(), []);
  const wire = { ...alice.transport.acks[0], from: alice.id };
  await alice.client.ingest([wire], 'live');
  assert.equal(conv.list.get(key).status, STATUS.DELIVERED);
  assert.equal(conv.list.size, 1);
  alice.client.onRead({ from: bob.id, up_to: wire.id });
  assert.equal(conv.list.get(key).status, STATUS.READ);
});

test('an echo that beats the ack still ends as one delivered message', async () => {
  const { users: { alice, bob } } = await setup();
  alice.transport.connected = false;
  alice.transport.request = async () => { throw Object.assign(new Error('offline'), { code: 'offline' }); };
  const cid = await alice.client.sendText(bob.id, 'queued');
  assert.equal((await alice.store.outboxList()).length, 1, 'kept in the outbox while offline');
  // The server had it after all (ack lost): sync brings it back before the resend.
  const env = (await alice.store.outboxList())[0].envelope;
  await alice.client.ingest([{ ...env, id: 55, from: alice.id, ts: 1 }], 'sync');
  assert.deepEqual(await alice.store.outboxList(), []);
  const message = alice.client.conv(bob.id).list.get(`${alice.id}:${cid}`);
  assert.equal(message.status, STATUS.DELIVERED);
  assert.equal(message.id, 55);
});

test('a changed friend key raises a warning until accepted with the password; the first key is trusted', async () => {
  const { users: { alice, bob }, keys } = await setup();
  await alice.client.checkPeerKeys();
  assert.equal(alice.client.friends.get(bob.id).keyWarning, null);
  const fresh = await identity();
  keys.set(bob.id, [...keys.get(bob.id).map((k) => ({ ...k, current: false })),
    { id: fresh.id, public_key: b64urlEncode(fresh.publicRaw), created: 2, current: true }]);
  alice.client.applyFriends({ friends: [{ id: bob.id, username: 'bob', since: 1, online: true, key_id: fresh.id }] });
  await alice.client.checkPeerKeys();
  assert.ok(alice.client.friends.get(bob.id).keyWarning);
  await assert.rejects(alice.client.acceptKeys(bob.id, 'wrong'), /Wrong password/);
  assert.ok(alice.client.friends.get(bob.id).keyWarning, 'a failed accept changes nothing');
  await alice.client.acceptKeys(bob.id, 'right password');
  assert.equal(alice.client.friends.get(bob.id).keyWarning, null);
  assert.deepEqual([...alice.vault.peers.get(bob.id)].sort(), [bob.ident.id, fresh.id].sort(), 'both keys are in the vault');
  await alice.client.checkPeerKeys();
  assert.equal(alice.client.friends.get(bob.id).keyWarning, null);
});

test('a friend without a key cannot be written to', async () => {
  const { users: { alice, bob } } = await setup();
  alice.client.applyFriends({ friends: [{ id: bob.id, username: 'bob', since: 1, online: false, key_id: null }] });
  assert.equal(alice.client.canSend(bob.id), false);
  await assert.rejects(alice.client.sendText(bob.id, 'hi'), /no key/);
});

test('both friends compute the same safety number', async () => {
  const { users: { alice, bob } } = await setup();
  const a = await alice.client.safetyNumber(bob.id);
  const b = await bob.client.safetyNumber(alice.id);
  assert.equal(a, b);
  assert.match(a, /^(\d{5} ){11}\d{5}$/);
});

/** Bob's message sealed under a key pair the test controls (as a server that inserts a key could). */
async function sealAs(sender, senderKey, recipientId, recipientPublic, plain, id) {
  const meLo = sender.id < recipientId;
  const [lo, hi] = meLo ? [sender.id, recipientId] : [recipientId, sender.id];
  const [loRaw, hiRaw] = meLo ? [senderKey.publicRaw, recipientPublic] : [recipientPublic, senderKey.publicRaw];
  const pairKey = await crypto.derivePairKey(senderKey.privateKey, recipientPublic, lo, hi, loRaw, hiRaw);
  const header = { from: sender.id, to: recipientId, cid: crypto.newCid(), sk: senderKey.id, rk: null };
  return { header, pairKey };
}

test('a key listed under an id that is not its hash is dropped: warning, and nothing is encrypted', async () => {
  const { users: { alice, bob }, keys } = await setup();
  const other = await identity();
  // The server's row for Bob's key: same id, other bytes. Alice has never fetched Bob's keys.
  keys.set(bob.id, [{ id: bob.ident.id, public_key: b64urlEncode(other.publicRaw), created: 1, current: true }]);
  await alice.client.checkPeerKeys();
  await assert.rejects(alice.client.sendText(bob.id, 'for the wrong key'));
  const warning = alice.client.friends.get(bob.id).keyWarning;
  assert.ok(warning?.rejected.has(bob.ident.id), 'the warning names the rejected key');
  await assert.rejects(alice.client.sendText(bob.id, 'again', { confirmed: true }), /does not match its id/);
  assert.deepEqual(alice.transport.sent.filter(([name]) => name === 'send'), []);
  assert.deepEqual(await alice.store.outboxList(), []);
  assert.deepEqual(await alice.store.peerKeys(bob.id), [], 'the bad key is not kept');
});

test('a key known under an id is never replaced by other bytes the server lists later', async () => {
  const { users: { alice, bob }, keys } = await setup();
  await alice.keyring.peerPublic(bob.id, bob.ident.id);
  const other = await identity();
  keys.set(bob.id, [{ id: bob.ident.id, public_key: b64urlEncode(other.publicRaw), created: 1, current: true }]);
  const raw = await alice.keyring.peerPublic(bob.id, bob.ident.id);
  assert.deepEqual(raw, bob.ident.publicRaw);
  alice.keyring.forgetPeer(bob.id); // key_changed: fetch the list again
  assert.deepEqual((await alice.keyring.peerKeys(bob.id)).get(bob.ident.id).raw, bob.ident.publicRaw);
  assert.equal(alice.client.keyWarnings.has(bob.id), false, 'the good key in hand is still usable');
  await alice.client.sendText(bob.id, 'still to the real bob');
  assert.equal((await alice.store.outboxList())[0].envelope.rk, bob.ident.id);
});

test('a message under a key the user has not accepted is marked and warns; sending then needs confirmation', async () => {
  const { users: { alice, bob }, keys } = await setup();
  await alice.client.checkPeerKeys();
  // The server adds a non-current key for Bob (its id is its hash) and a message "from" Bob under it.
  const forged = await identity();
  keys.set(bob.id, [...keys.get(bob.id), { id: forged.id, public_key: b64urlEncode(forged.publicRaw), created: 2, current: false }]);
  const { header, pairKey } = await sealAs(bob, forged, alice.id, alice.ident.publicRaw);
  header.rk = alice.ident.id;
  const env = { ...(await crypto.encryptMessage(pairKey, header, { t: 'text', body: 'send me the code', sent: 1 })), from: bob.id, id: 7, ts: 1 };
  await alice.client.ingest([env], 'sync');
  const [message] = alice.client.conv(bob.id).list.list();
  assert.equal(message.body, 'send me the code');
  assert.equal(message.unverified, true);
  assert.ok(alice.client.friends.get(bob.id).keyWarning.pending.has(forged.id));
  assert.equal(alice.client.needsKeyConfirmation(bob.id), true);
  await assert.rejects(alice.client.sendText(bob.id, 'hi'), (err) => err.code === 'key_unconfirmed');
  assert.equal((await alice.store.outboxList()).length, 0);
  await alice.client.sendText(bob.id, 'hi anyway', { confirmed: true });
  assert.equal((await alice.store.outboxList())[0].envelope.rk, bob.ident.id, 'encrypted for the accepted current key');
  // A message under Bob's accepted key is not marked.
  bob.transport.nextId = 500; // ids from one server: not the ones Alice's fake used
  await bob.client.sendText(alice.id, 'the real bob');
  await bob.client.outbox.flush();
  await alice.client.ingest([{ ...bob.transport.acks[0], from: bob.id }], 'live');
  const real = alice.client.conv(bob.id).list.list().find((m) => m.body === 'the real bob');
  assert.equal(real.unverified, false);
  await alice.client.acceptKeys(bob.id, 'right password');
  assert.equal(message.unverified, false);
  assert.equal(alice.client.needsKeyConfirmation(bob.id), false);
});

test('accepted key ids from the vault are trusted at start; a current key outside them warns', async () => {
  const { users: { alice, bob }, keys } = await setup();
  const fresh = await identity();
  // The vault (read at login into the store) accepted Bob's first key only.
  await alice.store.setPeer(bob.id, { accepted: [bob.ident.id], synced: true });
  await alice.keyring.load(alice.ident.id);
  alice.client.pins = new Map();
  await alice.client.start().catch(() => {});
  keys.set(bob.id, [{ id: fresh.id, public_key: b64urlEncode(fresh.publicRaw), created: 2, current: true }]);
  alice.client.applyFriends({ friends: [{ id: bob.id, username: 'bob', since: 1, online: true, key_id: fresh.id }] });
  await alice.client.checkPeerKeys();
  assert.ok(alice.client.friends.get(bob.id).keyWarning?.pending.has(fresh.id));
});
