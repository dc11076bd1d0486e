// The group conversation kind (static/js/chat/groups.js, PROTOCOL §9) with three real clients
// over a fake server (helpers/group_setup.mjs): roster rules as members see them, unconfirmed
// members, stale_members resealing with the same cid, de-duplication, decrypt failures, and
// read and typing markers routed per group.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { groupPlaintext } from '../../static/js/groupcrypto.js';
import { groupSetup, settle, shown } from './helpers/group_setup.mjs';

/** Alice creates "Trip" with bob; every client has fetched the listing. */
async function tripWithBob() {
  const setup = await groupSetup();
  const { alice, bob, carol } = setup.users;
  for (const u of [alice, bob, carol]) await u.client.groups.refresh();
  const key = await alice.client.createGroup('Trip', [bob.id]);
  await settle();
  await bob.client.groups.refresh();
  return { ...setup, key };
}

test('a new group is named by its creator’s group message, trusted on first use', async () => {
  const { users: { alice, bob }, key } = await tripWithBob();
  assert.equal(key, 'g:7');
  assert.equal(alice.client.group(key).title, 'Trip');
  assert.equal(bob.client.group(key).title, 'Trip');
  assert.deepEqual(shown(bob.client, key), [['system', 'alice created the group.'], ['system', 'alice named the group “Trip”.']]);
  assert.deepEqual(bob.client.group(key).unconfirmed, []);
});

test('an unnamed group is called by its other members’ usernames', async () => {
  const { users: { alice, bob } } = await groupSetup();
  const key = await alice.client.createGroup('', [bob.id]);
  await settle();
  assert.equal(alice.client.group(key).title, 'bob');
});

test('a group message from a member who is not an admin is shown and changes nothing', async () => {
  const { users: { alice, bob }, key } = await tripWithBob();
  await bob.client.parts.sending.sendPlain(key, groupPlaintext('Hijacked', [1, 2], [1, 2], 5), { confirmed: true });
  await settle();
  assert.equal(alice.client.group(key).title, 'Trip');
  assert.deepEqual(alice.client.groups.rosters.get(7).admins, [1]);
  assert.deepEqual(shown(alice.client, key).at(-1), ['system', 'bob sent a group change but is not an admin, so it was ignored.']);
});

test('a member the server lists but no admin confirmed is unconfirmed, and sending asks first', async () => {
  const { server, users: { alice, carol }, key } = await tripWithBob();
  server.addMember(7, carol.id, 1, { silent: true }); // as if alice's client missed the event
  await alice.client.groups.refresh();
  const row = alice.client.group(key);
  assert.deepEqual(row.unconfirmed, [carol.id]);
  assert.deepEqual(shown(alice.client, key).at(-1), ['system', 'carol joined the group while you were away.']);
  assert.deepEqual(alice.client.sendWarning(key), { reason: 'unconfirmed', names: ['carol'] });
  await assert.rejects(alice.client.sendText(key, 'hi'), { code: 'group_unconfirmed' });
  assert.equal(server.messages.length, 1); // only the naming message
  await alice.client.sendText(key, 'hi', { confirmed: true });
  await settle();
  assert.deepEqual(server.messages.at(-1).keys.map((k) => k.to).sort(), [1, 2, 3]);
  assert.equal(alice.client.sendWarning(key), null); // asked once
});

test('stale_members: the same plaintext is sealed again for the new members with the same cid', async () => {
  const { server, users: { alice, carol }, key } = await tripWithBob();
  server.addMember(7, carol.id, 1, { silent: true }); // alice's client has not heard of it yet
  await carol.client.groups.refresh();
  const cid = await alice.client.sendText(key, 'who is in?');
  await settle();
  const sends = alice.transport.sent.filter(([name, env]) => name === 'send' && env.cid === cid).map(([, env]) => env);
  assert.equal(sends.length, 2);
  assert.deepEqual(sends[0].keys.map((k) => k.to), [1, 2]);
  assert.deepEqual(sends[1].keys.map((k) => k.to), [1, 2, 3]);
  assert.notEqual(sends[0].ct, sends[1].ct); // fresh K and nonce
  assert.deepEqual(shown(carol.client, key).at(-1), ['text', 'who is in?']);
  assert.equal(alice.client.conv(key).list.get(`1:${cid}`).status, 'delivered');
  assert.ok(!(await alice.store.outboxGet(cid)));
});

test('group messages are shown once, whether they come live, by sync or in a history page', async () => {
  const { server, users: { bob }, key } = await tripWithBob();
  const copy = server.copyFor(bob.id, server.messages[0]);
  await bob.client.ingest([copy], 'sync');
  await bob.client.ingest([copy, { ...copy, cid: copy.cid }], 'history');
  await bob.client.ingest([{ ...copy }], 'live');
  assert.equal(bob.client.conv(key).list.list().filter((m) => m.id === copy.id).length, 1);
});

test('a group message that fails to open is a visible "could not decrypt" item', async () => {
  const { server, users: { alice, bob }, key } = await tripWithBob();
  server.holdLive = true;
  await alice.client.sendText(key, 'secret');
  await settle();
  const copy = server.copyFor(bob.id, server.messages.at(-1));
  const ct = copy.ct;
  const flipped = (ct[5] === 'A' ? 'B' : 'A');
  await bob.client.ingest([{ ...copy, ct: ct.slice(0, 5) + flipped + ct.slice(6) }], 'live');
  const item = bob.client.conv(key).list.byId.get(copy.id);
  assert.equal(item.kind, 'error');
  assert.match(item.error, /Could not decrypt/);
});

test('typing and read markers go to and come from the group, and say who read up to where', async () => {
  const { server, users: { alice, bob }, key } = await tripWithBob();
  bob.client.bindTransport();
  await alice.client.sendText(key, 'one');
  await settle();
  const textId = server.messages.at(-1).id;
  bob.client.typing(key);
  assert.deepEqual(bob.transport.sent.filter(([n]) => n === 'typing').at(-1), ['typing', { group: 7, on: true }]);
  bob.client.stopTyping();
  await bob.client.open(key);
  bob.client.setReading(true);
  assert.deepEqual(bob.transport.sent.filter(([n]) => n === 'read').at(-1), ['read', { group: 7, up_to: textId }]);

  alice.client.bindTransport();
  alice.transport.dispatchEvent(new CustomEvent('typing', { detail: { from: bob.id, group: 7, on: true } }));
  assert.equal(alice.client.group(key).typing, true);
  assert.deepEqual(alice.client.group(key).typingNames, ['bob']);
  alice.transport.dispatchEvent(new CustomEvent('typing', { detail: { from: bob.id, group: 7, on: false } }));
  assert.equal(alice.client.group(key).typing, false);
  alice.transport.dispatchEvent(new CustomEvent('read', { detail: { from: bob.id, group: 7, up_to: textId } }));
  assert.deepEqual([...alice.client.readersOf(key)], [[textId, ['bob']]]);
  assert.equal(alice.client.conv(key).list.byId.get(textId).status, 'read'); // every other member read it
});

test('my read marker from another device clears the group’s unread count', async () => {
  const { users: { alice, bob }, key } = await tripWithBob();
  bob.client.bindTransport();
  await alice.client.sendText(key, 'unread?');
  await settle();
  const row = bob.client.group(key);
  assert.equal(row.unread, 2); // the naming message and the text, as the server counts them
  bob.transport.dispatchEvent(new CustomEvent('read', { detail: { from: bob.id, group: 7, up_to: row.lastId } }));
  assert.equal(row.unread, 0);
});

test('the only admin leaving first names the oldest other member as admin, then leaves', async () => {
  const { server, users: { alice, bob }, key } = await tripWithBob();
  await alice.client.leaveGroup(key);
  await settle();
  const last = server.log.findIndex(([what]) => what === 'remove');
  assert.equal(server.log[last - 1][0], 'message'); // the successor message is stored before leaving
  assert.deepEqual(bob.client.groups.rosters.get(7).admins, [bob.id]);
  assert.deepEqual(bob.client.groups.rosters.get(7).members, [bob.id]);
  assert.deepEqual(shown(bob.client, key).at(-1), ['system', 'alice is leaving and made bob admin.']);
  assert.equal(alice.client.group(key), undefined);
});

test('a second device of a member reads the group history and its name', async () => {
  const { server, users: { alice, bob }, key } = await tripWithBob();
  await alice.client.sendText(key, 'history');
  await settle();
  const { ChatClient } = await import('../../static/js/chat/client.js');
  const { Keyring } = await import('../../static/js/keyring.js');
  const { MemoryBackend, Store } = await import('../../static/js/store.js');
  const store = new Store(new MemoryBackend(), bob.id);
  await store.saveIdentities([bob.ident]);
  const api = server.api(bob.id);
  const keyring = new Keyring({ me: bob.id, store, api });
  await keyring.load(bob.ident.id);
  const second = new ChatClient({ me: { id: bob.id, username: 'bob', keyId: bob.ident.id }, api, store, transport: bob.transport, keyring });
  await second.groups.refresh();
  await second.loadNewest(key);
  assert.equal(second.group(key).title, 'Trip');
  assert.deepEqual(shown(second, key), [['system', 'alice named the group “Trip”.'], ['text', 'history']]);
});

test('a co-member’s key is pinned on first sight, a change warns, asks before sending, and safety numbers work', async () => {
  const { server, users: { alice, bob, carol } } = await groupSetup();
  const key = await alice.client.createGroup('Trip', [bob.id, carol.id]);
  await settle();
  await bob.client.groups.refresh(); // bob and carol are no friends: they know each other through the group
  assert.deepEqual([...bob.client.pins.get(carol.id)], [carol.ident.id]);
  assert.equal(bob.client.sendWarning(key), null);

  const { identity } = await import('./helpers/chat_setup.mjs');
  const { b64urlEncode } = await import('../../static/js/encoding.js');
  const fresh = await identity();
  server.keys.set(carol.id, [{ id: fresh.id, public_key: b64urlEncode(fresh.publicRaw), created: 2, current: true }]);
  bob.keyring.forgetPeer(carol.id);
  await bob.client.groups.refresh();
  const row = bob.client.group(key);
  assert.deepEqual(row.keyWarnings, [carol.id]);
  assert.deepEqual(bob.client.sendWarning(key), { reason: 'key_changed', names: ['carol'] });
  await assert.rejects(bob.client.sendText(key, 'still there?'), { code: 'key_unconfirmed' });
  assert.match(await bob.client.safetyNumber(carol.id), /^(\d{5} ){11}\d{5}$/);
  await bob.client.acceptKeys(carol.id, 'password');
  assert.deepEqual(bob.client.group(key).keyWarnings, []);
  assert.equal(bob.client.sendWarning(key), null);
});

test('a group message read by sync before the listing names its sender once the listing arrives', async () => {
  const { server, users: { alice, bob, carol } } = await groupSetup();
  server.clients.delete(carol.id); // carol's device is offline: no events, no live copies
  const key = await alice.client.createGroup('Trip', [bob.id, carol.id]);
  await settle();
  await carol.client.ingest([server.copyFor(carol.id, server.messages[0])], 'sync');
  assert.deepEqual(shown(carol.client, key), [['system', 'user 1 named the group “Trip”.']]);
  await carol.client.groups.refresh();
  assert.deepEqual(shown(carol.client, key), [['system', 'alice named the group “Trip”.']]);
  assert.equal(carol.client.group(key).title, 'Trip');
});

test('an admin’s add is an event line for everyone, then a group message that confirms the new member', async () => {
  const { users: { alice, bob, carol }, key } = await tripWithBob();
  await alice.client.addGroupMember(key, carol.id);
  await settle();
  assert.deepEqual(shown(bob.client, key).slice(-2), [['system', 'alice added carol.'], ['system', 'alice confirmed that carol joined.']]);
  assert.deepEqual(bob.client.group(key).unconfirmed, []);
  assert.deepEqual(shown(carol.client, key).at(-1), ['system', 'alice named the group “Trip”.']); // carol's first roster
  assert.equal(carol.client.group(key).title, 'Trip');
});

test('a group name longer than 100 characters is refused before anything is created', async () => {
  const { server, users: { alice, bob } } = await groupSetup();
  await assert.rejects(alice.client.createGroup('🏔'.repeat(101), [bob.id]), /at most 100 characters/);
  assert.equal(server.groups.size, 0);
  const key = await alice.client.createGroup('🏔'.repeat(100), [bob.id]); // 100 code points, 200 UTF-16 units
  await settle();
  assert.equal(alice.client.group(key).name, '🏔'.repeat(100));
});

test('group messages loaded again from history say what each changed against the one before it', async () => {
  const { users: { alice, bob, carol }, key } = await tripWithBob();
  await alice.client.addGroupMember(key, carol.id);
  await settle();
  bob.client.conversations.delete(key); // as after a restart: the roster is kept, the timeline is not
  await bob.client.loadNewest(key);
  const lines = shown(bob.client, key).filter(([kind]) => kind === 'system');
  assert.deepEqual(lines, [['system', 'alice named the group “Trip”.'], ['system', 'alice confirmed that carol joined.']]);
});
