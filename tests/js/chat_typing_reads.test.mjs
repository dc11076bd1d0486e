// Typing indicators and read markers (PROTOCOL §8): static/js/chat/typing.js and reads.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { setup } from './helpers/chat_setup.mjs';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const sentAs = (transport, event) => transport.sent.filter(([name]) => name === event).map(([, data]) => data);

test('typing tells the friend at most every few seconds, and "stopped" before the message is sent', async () => {
  const { users: { alice, bob } } = await setup();
  let now = 1_000;
  alice.client.now = () => now;
  alice.client.typing(bob.id);
  now += 1_000;
  alice.client.typing(bob.id);
  assert.deepEqual(sentAs(alice.transport, 'typing'), [{ to: bob.id, on: true }]);
  now += 3_000;
  alice.client.typing(bob.id);
  assert.equal(sentAs(alice.transport, 'typing').length, 2, 'resent after a few seconds');
  await alice.client.sendText(bob.id, 'hi');
  await alice.client.outbox.flush();
  assert.deepEqual(sentAs(alice.transport, 'typing').at(-1), { to: bob.id, on: false });
  const names = alice.transport.sent.map(([name]) => name);
  assert.ok(names.lastIndexOf('typing') < names.indexOf('send'));
});

test("a friend's typing signal shows on their row until they stop", async () => {
  const { users: { alice, bob } } = await setup();
  const seen = [];
  bob.client.addEventListener('typing', ({ detail }) => seen.push(detail));
  bob.client.parts.typing.onTyping({ from: alice.id, on: true });
  assert.equal(bob.client.friends.get(alice.id).typing, true);
  bob.client.parts.typing.onTyping({ from: alice.id, on: false });
  assert.equal(bob.client.friends.get(alice.id).typing, false);
  assert.deepEqual(seen, [{ friendId: alice.id, on: true }, { friendId: alice.id, on: false }]);
});

test('a read marker is sent for what is on screen, and sent again until acknowledged', async () => {
  const { users: { alice, bob } } = await setup();
  await alice.client.sendText(bob.id, 'read me');
  await alice.client.outbox.flush();
  const wire = { ...alice.transport.acks[0], from: alice.id };
  bob.client.api.messages = async () => ({ messages: [], more: false });
  await bob.client.open(alice.id);
  let acknowledge = false;
  bob.transport.request = async (name, data) => {
    bob.transport.sent.push([name, data]);
    return { ok: name !== 'read' || acknowledge };
  };
  bob.client.setReading(true);
  await bob.client.ingest([wire], 'live');
  assert.deepEqual(sentAs(bob.transport, 'read'), [{ friend: alice.id, up_to: wire.id }]);
  assert.equal(bob.client.friends.get(alice.id).unread, 0);
  await tick();
  bob.client.parts.reads.resend(); // as after a reconnect
  assert.equal(sentAs(bob.transport, 'read').length, 2, 'a refused marker is sent again');
  acknowledge = true;
  bob.client.parts.reads.resend();
  await tick();
  bob.client.parts.reads.resend();
  assert.equal(sentAs(bob.transport, 'read').length, 3, 'an acknowledged marker is not sent again');
});

test('my read marker from another device clears the unread count of that conversation', async () => {
  const { users: { alice, bob } } = await setup();
  await alice.client.sendText(bob.id, 'read elsewhere');
  await alice.client.outbox.flush();
  const wire = { ...alice.transport.acks[0], from: alice.id };
  await bob.client.ingest([wire], 'live');
  assert.equal(bob.client.friends.get(alice.id).unread, 1);
  bob.client.onRead({ from: bob.id, up_to: wire.id });
  assert.equal(bob.client.friends.get(alice.id).unread, 0);
  assert.equal(bob.client.friends.get(alice.id).readUpTo, wire.id);
});
