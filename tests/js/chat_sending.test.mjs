// Sending (static/js/chat/sending.js) through the outbox: delivery states, an echo that beats
// the ack, and who can be written to.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { STATUS } from '../../static/js/outbox.js';
import { setup } from './helpers/chat_setup.mjs';

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

test('a friend without a key cannot be written to', async () => {
  const { users: { alice, bob } } = await setup();
  alice.client.applyFriends({ friends: [{ id: bob.id, username: 'bob', since: 1, online: false, key_id: null }] });
  assert.equal(alice.client.canSend(bob.id), false);
  await assert.rejects(alice.client.sendText(bob.id, 'hi'), /no key/);
});
