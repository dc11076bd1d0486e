// Key pinning and key changes (PROTOCOL §6, static/js/chat/keys.js) with real cryptography.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as crypto from '../../static/js/crypto.js';
import { b64urlEncode } from '../../static/js/encoding.js';
import { identity, sealAs, setup } from './helpers/chat_setup.mjs';

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

test('both friends compute the same safety number', async () => {
  const { users: { alice, bob } } = await setup();
  const a = await alice.client.safetyNumber(bob.id);
  const b = await bob.client.safetyNumber(alice.id);
  assert.equal(a, b);
  assert.match(a, /^(\d{5} ){11}\d{5}$/);
});

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
