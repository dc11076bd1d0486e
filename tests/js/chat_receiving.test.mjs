// Receiving (static/js/chat/receiving.js) with real cryptography: de-duplication and visible
// decryption failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as crypto from '../../static/js/crypto.js';
import { setup } from './helpers/chat_setup.mjs';

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
