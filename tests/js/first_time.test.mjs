// What a first-time user sees, as pure logic: a password reset's unreadable history folded into
// one notice (timeline.js collapseSealed), long texts folded (isLongText), and friends'
// presence unknown while disconnected (chat/presence.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildTimeline, collapseSealed, isLongText, MessageList, SEALED_FOR_OLD_KEY } from '../../static/js/timeline.js';
import { setup } from './helpers/chat_setup.mjs';

const ME = 1;
const PEER = 2;
const base = Date.UTC(2024, 4, 10, 10, 0, 0);
const sealed = (id, from = PEER, ts = base + id * 1000) => ({ id, cid: `c${id}`, from, to: from === ME ? PEER : ME, ts, kind: 'error',
  reason: SEALED_FOR_OLD_KEY, error: 'Could not decrypt this message.' });
const text = (id, from = PEER) => ({ id, cid: `c${id}`, from, to: from === ME ? PEER : ME, ts: base + id * 1000, kind: 'text', body: `m${id}` });

function listOf(messages) {
  const list = new MessageList({ me: ME, peer: PEER });
  for (const m of messages) list.upsert(m);
  return list.list();
}

test('consecutive messages sealed for an old key, from both sides, become one notice with their count', () => {
  const shown = collapseSealed(listOf([sealed(1), sealed(2, ME), sealed(3), text(4), text(5, ME)]));
  assert.deepEqual(shown.map((m) => m.kind), ['sealed', 'text', 'text']);
  assert.equal(shown[0].count, 3);
  assert.deepEqual(shown[0].cids, ['c1', 'c2', 'c3']);
  assert.equal(shown[0].ts, base + 1000);
});

test('a readable message between two runs keeps them apart, and other failures stay one item each', () => {
  const tampered = { ...sealed(3), reason: 'undecryptable' };
  const shown = collapseSealed(listOf([sealed(1), sealed(2), tampered, text(4), sealed(5), sealed(6)]));
  assert.deepEqual(shown.map((m) => [m.kind, m.count ?? null]), [['sealed', 2], ['error', null], ['text', null], ['sealed', 2]]);
});

test('an unsent message of mine sealed for the old key keeps its own item (its failure and actions)', () => {
  const unsent = { ...sealed(null, ME), id: null, cid: 'outbox', seq: 1, status: 'failed' };
  const shown = collapseSealed(listOf([sealed(1), sealed(2), unsent]));
  assert.deepEqual(shown.map((m) => [m.kind, m.count ?? null]), [['sealed', 2], ['error', null]]);
  assert.equal(shown[1].cid, 'outbox');
});

test('a run spanning several days is still one notice, under the day it starts', () => {
  const day = 24 * 60 * 60 * 1000;
  const items = buildTimeline(collapseSealed(listOf([sealed(1, PEER, base), sealed(2, PEER, base + day), sealed(3, PEER, base + 2 * day)])),
    { now: base + 30 * day });
  assert.deepEqual(items.map((i) => i.type), ['day', 'group']);
  assert.equal(items[1].messages[0].count, 3);
});

test('the notice key is stable while the run grows at its end', () => {
  const first = collapseSealed(listOf([sealed(1), sealed(2)]))[0];
  const later = collapseSealed(listOf([sealed(1), sealed(2), sealed(3)]))[0];
  assert.equal(first.key, later.key);
});

test('texts longer than the fold limit, by characters or by lines, are folded; short ones are not', () => {
  assert.equal(isLongText('x'.repeat(10_000)), true);
  assert.equal(isLongText('line\n'.repeat(30)), true);
  assert.equal(isLongText('a short note\nwith two lines'), false);
  assert.equal(isLongText('x'.repeat(1200)), false);
  assert.equal(isLongText(undefined), false);
});

test('a message sealed for one of my keys this device lacks is marked as such', async () => {
  const { users: { alice, bob } } = await setup();
  await alice.client.sendText(bob.id, 'written to an older key of Bob');
  await alice.client.outbox.flush();
  const wire = { ...alice.transport.acks[0], from: alice.id, rk: 'AAAAAAAAAAAA' };
  await bob.client.ingest([wire], 'live');
  const [message] = bob.client.conv(alice.id).list.list();
  assert.equal(message.kind, 'error');
  assert.equal(message.reason, SEALED_FOR_OLD_KEY);
  assert.equal(collapseSealed([message])[0].kind, 'sealed');
});

test('presence is unknown while disconnected and known again after a listing over a live connection', async () => {
  const { users: { alice, bob } } = await setup();
  const client = alice.client;
  assert.equal(client.presenceKnown, true);
  let renders = 0;
  client.addEventListener('friends', () => { renders += 1; });
  alice.transport.connected = false;
  client.parts.presence.onConnectionState('reconnecting');
  assert.equal(client.presenceKnown, false);
  assert.equal(client.friends.get(bob.id).online, false);
  assert.ok(renders > 0, 'the header is told to re-render');
  const listing = { friends: [{ id: bob.id, username: 'bob', since: 1, online: true, key_id: bob.ident.id }] };
  client.applyFriends(listing);
  assert.equal(client.presenceKnown, false, 'a listing fetched while the socket is down says nothing live');
  alice.transport.connected = true;
  client.applyFriends(listing, { fromSnapshot: true });
  assert.equal(client.presenceKnown, false, 'a snapshot from the last visit is not live');
  client.applyFriends(listing);
  assert.equal(client.presenceKnown, true);
});
