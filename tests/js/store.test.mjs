// The in-memory twin of the store: same behaviour the browser gets from IndexedDB.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { compareKeys, MemoryBackend, Store } from '../../static/js/store.js';

const env = (id, from, to, cid = `cid${id}`) => ({ v: 1, id, from, to, cid, sk: 'a'.repeat(12), rk: 'b'.repeat(12), n: 'n', ct: 'c', ts: id * 10 });

test('compareKeys orders numbers before strings before arrays, arrays element-wise', () => {
  assert.ok(compareKeys(5, 'a') < 0);
  assert.ok(compareKeys('a', []) < 0);
  assert.ok(compareKeys([1, 2], [1, 10]) < 0);
  assert.ok(compareKeys([1, 'x'], [1, []]) < 0);
  assert.equal(compareKeys([1, 2], [1, 2]), 0);
  assert.ok(compareKeys([1], [1, 0]) < 0);
});

test('the cursor only moves forward and is per owner', async () => {
  const backend = new MemoryBackend();
  const alice = new Store(backend, 1);
  const bob = alice.forOwner(2);
  assert.equal(await alice.cursor(), null);
  assert.equal(await alice.advanceCursor(10), 10);
  assert.equal(await alice.advanceCursor(7), 10);
  assert.equal(await alice.advanceCursor(12), 12);
  assert.equal(await bob.cursor(), null);
});

test('outbox items come back in the order they were written and survive until deleted', async () => {
  const store = await Store.open(1, { memory: true });
  await store.outboxPut({ cid: 'b', seq: 2, envelope: { cid: 'b' }, status: 'sending' });
  await store.outboxPut({ cid: 'a', seq: 1, envelope: { cid: 'a' }, status: 'sending' });
  await store.outboxPut({ cid: 'c', seq: 3, envelope: { cid: 'c' }, status: 'failed' });
  assert.deepEqual((await store.outboxList()).map((i) => i.cid), ['a', 'b', 'c']);
  await store.outboxDelete('b');
  assert.deepEqual((await store.outboxList()).map((i) => i.cid), ['a', 'c']);
  assert.equal(await store.outboxGet('b'), undefined);
  assert.equal((await store.outboxGet('a')).owner, 1);
});

test('stored values are copies: changing one later does not change the store', async () => {
  const store = await Store.open(1, { memory: true });
  const item = { cid: 'a', seq: 1, envelope: { cid: 'a' }, status: 'sending' };
  await store.outboxPut(item);
  item.status = 'failed';
  assert.equal((await store.outboxGet('a')).status, 'sending');
});

test('cached envelopes are found per conversation, newest page first, ids before a bound', async () => {
  const store = await Store.open(1, { memory: true });
  await store.cacheEnvelopes([env(1, 1, 2), env(2, 2, 1), env(3, 1, 3), env(4, 1, 2), env(5, 2, 1)]);
  assert.deepEqual((await store.cachedEnvelopes(2)).map((e) => e.id), [1, 2, 4, 5]);
  assert.deepEqual((await store.cachedEnvelopes(2, { limit: 2 })).map((e) => e.id), [4, 5]);
  assert.deepEqual((await store.cachedEnvelopes(2, { before: 4, limit: 2 })).map((e) => e.id), [1, 2]);
  assert.deepEqual((await store.cachedEnvelopes(3)).map((e) => e.id), [3]);
  const [first] = await store.cachedEnvelopes(2, { limit: 1 });
  assert.equal(first.owner, undefined, 'the envelope comes back without storage fields');
  assert.equal(first.peer, undefined);
  await store.forgetConversation(2);
  assert.deepEqual(await store.cachedEnvelopes(2), []);
  assert.equal((await store.cachedEnvelopes(3)).length, 1);
});

test('envelopes without an id (not stored by the server) are not cached', async () => {
  const store = await Store.open(1, { memory: true });
  await store.cacheEnvelopes([{ ...env(1, 1, 2), id: undefined }]);
  assert.deepEqual(await store.cachedEnvelopes(2), []);
});

test('identities are kept per owner and cleared for everyone at logout', async () => {
  const backend = new MemoryBackend();
  const alice = new Store(backend, 1);
  const bob = new Store(backend, 2);
  await alice.saveIdentities([{ id: 'k1', privateKey: 'opaque', publicRaw: new Uint8Array(32), created: 1, current: true }]);
  await bob.saveIdentities([{ id: 'k2', privateKey: 'opaque', publicRaw: new Uint8Array(32), created: 1, current: true }]);
  assert.deepEqual((await alice.identities()).map((r) => r.id), ['k1']);
  await alice.clearIdentities();
  assert.deepEqual(await alice.identities(), []);
  assert.deepEqual(await bob.identities(), []);
});

test('peer key tracking and peer public keys', async () => {
  const store = await Store.open(1, { memory: true });
  assert.equal(await store.peer(2), null);
  await store.setPeer(2, { seen: 'k', acked: 'k' });
  assert.deepEqual({ ...(await store.peer(2)), owner: undefined }, { seen: 'k', acked: 'k', owner: undefined, user: 2 });
  await store.savePeerKeys(2, [{ id: 'k', public_key: 'x', created: 1, current: true }]);
  await store.savePeerKeys(3, [{ id: 'z', public_key: 'y', created: 1, current: true }]);
  assert.deepEqual((await store.peerKeys(2)).map((k) => k.id), ['k']);
});

test('clearOwner forgets one user and keeps another', async () => {
  const backend = new MemoryBackend();
  const alice = new Store(backend, 1);
  const bob = new Store(backend, 2);
  for (const s of [alice, bob]) {
    await s.advanceCursor(5);
    await s.outboxPut({ cid: 'x', seq: 1, envelope: {}, status: 'sending' });
  }
  await alice.clearOwner();
  assert.equal(await alice.cursor(), null);
  assert.equal(await bob.cursor(), 5);
  assert.equal((await bob.outboxList()).length, 1);
});
