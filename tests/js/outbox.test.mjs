// The reconnect rule (PROTOCOL §8): sync from the cursor while `more`, then resend the outbox.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { advanceStatus, NEW_DEVICE_AFTER, onReconnect, Outbox, STATUS, Syncer } from '../../static/js/outbox.js';
import { Store } from '../../static/js/store.js';

const msg = (id, cid = `c${id}`) => ({ v: 1, id, cid, from: 2, to: 1, ts: id });

/** A fake server: pages of sync results, acks for sends, and a log of what it was asked. */
function fakeServer({ messages = [], pageSize = 2, acks = {} } = {}) {
  const log = [];
  const stored = new Map();
  let nextId = 100;
  const request = async (event, data) => {
    log.push([event, structuredClone(data)]);
    if (event === 'sync') {
      if (data.after === NEW_DEVICE_AFTER) return { ok: true, messages: [], more: false, last: 42 };
      const after = messages.filter((m) => m.id > data.after);
      const page = after.slice(0, Math.min(pageSize, data.limit));
      return { ok: true, messages: page, more: after.length > page.length, last: 0 };
    }
    if (event === 'send') {
      if (acks[data.cid] instanceof Error) throw acks[data.cid];
      if (acks[data.cid]) return acks[data.cid];
      if (!stored.has(data.cid)) stored.set(data.cid, nextId++);
      return { ok: true, id: stored.get(data.cid), ts: 1 };
    }
    throw new Error(`unexpected ${event}`);
  };
  return { request, log, stored };
}

test('statuses only move forward; failed only replaces sending', () => {
  assert.equal(advanceStatus(STATUS.SENDING, STATUS.SENT), STATUS.SENT);
  assert.equal(advanceStatus(STATUS.DELIVERED, STATUS.SENT), STATUS.DELIVERED);
  assert.equal(advanceStatus(STATUS.READ, STATUS.DELIVERED), STATUS.READ);
  assert.equal(advanceStatus(STATUS.SENDING, STATUS.FAILED), STATUS.FAILED);
  assert.equal(advanceStatus(STATUS.SENT, STATUS.FAILED), STATUS.SENT);
  assert.equal(advanceStatus(STATUS.FAILED, STATUS.SENDING), STATUS.SENDING);
  assert.equal(advanceStatus(null, STATUS.SENDING), STATUS.SENDING);
});

test('sync pages while more and moves the cursor after each delivered page', async () => {
  const store = await Store.open(1, { memory: true });
  await store.advanceCursor(0);
  const server = fakeServer({ messages: [msg(1), msg(2), msg(3), msg(5), msg(8)] });
  const delivered = [];
  const syncer = new Syncer({ store, request: server.request, deliver: async (envs) => { delivered.push(...envs.map((e) => e.id)); } });
  assert.equal(await syncer.run(), 5);
  assert.deepEqual(delivered, [1, 2, 3, 5, 8]);
  assert.deepEqual(server.log.map(([, d]) => d.after), [0, 2, 5]);
  assert.equal(await store.cursor(), 8);
});

test('a new device starts at the newest id instead of downloading everything', async () => {
  const store = await Store.open(1, { memory: true });
  const server = fakeServer({ messages: [msg(1)] });
  const syncer = new Syncer({ store, request: server.request, deliver: async () => assert.fail('nothing to deliver') });
  await syncer.run();
  assert.equal(await store.cursor(), 42);
  assert.deepEqual(server.log, [['sync', { after: NEW_DEVICE_AFTER, limit: 1 }]]);
});

test('a live id seen during a sync moves the cursor only once the sync has finished', async () => {
  const store = await Store.open(1, { memory: true });
  await store.advanceCursor(0);
  const server = fakeServer({ messages: [msg(1), msg(2), msg(3)], pageSize: 1 });
  let syncer;
  const cursors = [];
  syncer = new Syncer({
    store,
    request: server.request,
    deliver: async (envs) => {
      if (envs[0].id === 1) await syncer.noteLive(50); // a live message arrives mid-sync
      cursors.push(await store.cursor());
    },
  });
  await syncer.run();
  assert.deepEqual(cursors, [0, 1, 2], 'the live id did not jump the cursor over unsynced messages');
  assert.equal(await store.cursor(), 50);
  await syncer.noteLive(60);
  assert.equal(await store.cursor(), 60);
});

test('a failed sync keeps the cursor where the last delivered page left it', async () => {
  const store = await Store.open(1, { memory: true });
  await store.advanceCursor(0);
  const server = fakeServer({ messages: [msg(1), msg(2), msg(3)], pageSize: 1 });
  let calls = 0;
  const request = async (event, data) => {
    calls += 1;
    if (calls === 2) throw Object.assign(new Error('gone'), { code: 'offline' });
    return server.request(event, data);
  };
  const syncer = new Syncer({ store, request, deliver: async () => {} });
  await assert.rejects(syncer.run());
  assert.equal(await store.cursor(), 1);
});

test('outbox resends in the order written, with the same cid, and forgets acked items', async () => {
  const store = await Store.open(1, { memory: true });
  const statuses = [];
  let now = 1000;
  const offline = async () => { throw Object.assign(new Error('offline'), { code: 'offline' }); };
  const outbox = new Outbox({ store, request: offline, onStatus: (cid, s) => statuses.push([cid, s]), now: () => now++ });
  await outbox.add({ cid: 'first', ct: '1' });
  await outbox.add({ cid: 'second', ct: '2' });
  await outbox.add({ cid: 'third', ct: '3' });
  await outbox.flush();
  assert.deepEqual((await outbox.items()).map((i) => i.cid), ['first', 'second', 'third']);

  const server = fakeServer();
  outbox.request = server.request;
  await outbox.flush();
  assert.deepEqual(server.log.map(([e, d]) => [e, d.cid]), [['send', 'first'], ['send', 'second'], ['send', 'third']]);
  assert.deepEqual(await outbox.items(), []);
  assert.deepEqual(statuses.filter(([, s]) => s === STATUS.SENT).map(([c]) => c), ['first', 'second', 'third']);
});

test('reconnect runs sync before resending, and items seen in the sync are not resent', async () => {
  const store = await Store.open(1, { memory: true });
  await store.advanceCursor(0);
  const server = fakeServer({ messages: [] });
  const outbox = new Outbox({ store, request: async () => { throw new Error('offline'); } });
  await outbox.add({ cid: 'already-stored' });
  await outbox.add({ cid: 'lost' });
  await outbox.flush();
  outbox.request = server.request;
  const syncer = new Syncer({
    store,
    request: server.request,
    deliver: async (envs) => { for (const e of envs) await outbox.stored(e.cid); },
  });
  // The first send reached the server before the connection dropped; its ack was lost.
  server.log.length = 0;
  const original = server.request;
  syncer.request = async (event, data) => {
    const ack = await original(event, data);
    if (event === 'sync') ack.messages = [{ v: 1, id: 7, cid: 'already-stored', from: 1, to: 2 }];
    return ack;
  };
  await onReconnect({ syncer, outbox });
  assert.deepEqual(server.log.map(([e, d]) => (e === 'send' ? `send:${d.cid}` : e)), ['sync', 'send:lost']);
  assert.deepEqual(await outbox.items(), []);
});

test('a permanent refusal marks the item failed and keeps it; a transient one keeps it waiting', async () => {
  const store = await Store.open(1, { memory: true });
  const server = fakeServer({ acks: {
    bad: { ok: false, error: 'forbidden', message: 'not_friends' },
    busy: { ok: false, error: 'retry', message: 'try again' },
  } });
  const statuses = [];
  const outbox = new Outbox({ store, request: server.request, onStatus: (cid, s) => statuses.push([cid, s]), retryDelay: 0 });
  await outbox.add({ cid: 'bad' });
  await outbox.flush();
  const [bad] = await outbox.items();
  assert.equal(bad.status, STATUS.FAILED);
  assert.equal(bad.error.code, 'forbidden');
  await outbox.add({ cid: 'busy' });
  await outbox.flush();
  const items = await outbox.items();
  assert.deepEqual(items.map((i) => [i.cid, i.status]), [['bad', 'failed'], ['busy', 'sending']]);
  // Failed items are skipped by later flushes until retried.
  server.log.length = 0;
  await outbox.flush();
  assert.deepEqual(server.log.map(([, d]) => d.cid), ['busy']);
  await outbox.discard('bad');
  assert.deepEqual((await outbox.items()).map((i) => i.cid), ['busy']);
});

test('resending an already stored cid is harmless: the server answers the same id', async () => {
  const store = await Store.open(1, { memory: true });
  const server = fakeServer();
  const sent = [];
  const outbox = new Outbox({ store, request: server.request, onStatus: (cid, s, item) => s === STATUS.SENT && sent.push(item.id) });
  await outbox.add({ cid: 'x' });
  await outbox.flush();
  await store.outboxPut({ cid: 'x', seq: 99, envelope: { cid: 'x' }, status: STATUS.SENDING });
  await outbox.flush();
  assert.deepEqual(sent, [100, 100]);
});

test('concurrent flushes never send one item twice at the same time', async () => {
  const store = await Store.open(1, { memory: true });
  const server = fakeServer();
  const outbox = new Outbox({ store, request: async () => { throw new Error('offline'); } });
  await outbox.add({ cid: 'a' });
  await outbox.add({ cid: 'b' });
  outbox.request = server.request;
  await Promise.all([outbox.flush(), outbox.flush(), outbox.flush()]);
  assert.deepEqual(server.log.map(([, d]) => d.cid), ['a', 'b']);
});

test('an unauthorized refusal keeps the item queued and reports the ended session', async () => {
  const store = await Store.open(1, { memory: true });
  const server = fakeServer({ acks: { x: { ok: false, error: 'unauthorized', message: 'log in again' } } });
  let ended = 0;
  const outbox = new Outbox({ store, request: server.request, onUnauthorized: () => { ended += 1; } });
  await outbox.add({ cid: 'x' });
  await outbox.flush();
  assert.equal(ended >= 1, true);
  assert.deepEqual((await outbox.items()).map((i) => [i.cid, i.status]), [['x', 'sending']]);
});

test('no ack while connected schedules another attempt', async () => {
  const store = await Store.open(1, { memory: true });
  let calls = 0;
  const request = async () => {
    calls += 1;
    if (calls === 1) throw Object.assign(new Error('no answer'), { code: 'timeout' });
    return { ok: true, id: 1, ts: 1 };
  };
  const outbox = new Outbox({ store, request, retryDelay: 10 });
  await outbox.add({ cid: 'slow' });
  await outbox.flush();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await outbox.flush();
  assert.deepEqual(await outbox.items(), []);
  assert.ok(calls >= 2);
});

test('stale_members: the item is sealed again with the same cid, stored in place, and sent again, a bounded number of times', async () => {
  const store = await Store.open(1, { memory: true });
  const sent = [];
  let staleLeft = 1;
  const request = async (event, data) => {
    sent.push(structuredClone(data));
    if (staleLeft > 0) {
      staleLeft -= 1;
      return { ok: false, error: 'stale_members', message: 'the members changed', members: [1, 2, 3] };
    }
    return { ok: true, id: 7, ts: 1 };
  };
  const statuses = [];
  const reseal = async (env, ack) => ({ ...env, keys: ack.members.map((to) => ({ to })), ct: 'fresh' });
  const outbox = new Outbox({ store, request, reseal, onStatus: (cid, status) => statuses.push(status), retryDelay: 0 });
  await outbox.add({ v: 1, cid: 'group-cid', g: 5, ct: 'old', keys: [{ to: 1 }, { to: 2 }] });
  await outbox.flush();
  assert.deepEqual(sent.map((e) => [e.cid, e.ct, e.keys.length]), [['group-cid', 'old', 2], ['group-cid', 'fresh', 3]]);
  assert.deepEqual(statuses, [STATUS.SENDING, STATUS.SENT]);

  staleLeft = 10; // a server that keeps answering stale_members: the item fails, it does not loop
  sent.length = 0;
  await outbox.add({ v: 1, cid: 'other-cid', g: 5, ct: 'old', keys: [{ to: 1 }] });
  await outbox.flush();
  assert.equal(sent.length, 4); // the first send and three reseals
  assert.equal((await store.outboxGet('other-cid')).status, STATUS.FAILED);
});

test('stale_members without a way to reseal (or a reseal that fails) fails the item with the reason', async () => {
  const store = await Store.open(1, { memory: true });
  const request = async () => ({ ok: false, error: 'stale_members', message: 'the members changed', members: [1] });
  const reseal = async () => { throw Object.assign(new Error('You are not a member of this group.'), { code: 'not_found' }); };
  const outbox = new Outbox({ store, request, reseal, retryDelay: 0 });
  await outbox.add({ v: 1, cid: 'gone-cid', g: 5, ct: 'x', keys: [{ to: 1 }] });
  await outbox.flush();
  const item = await store.outboxGet('gone-cid');
  assert.equal(item.status, STATUS.FAILED);
  assert.deepEqual(item.error, { code: 'not_found', message: 'You are not a member of this group.' });
});

test('a retry ack that says when to come back is resent then, not after the default delay', async () => {
  const store = await Store.open(1, { memory: true });
  const at = [];
  const request = async () => {
    at.push(Date.now());
    return at.length === 1 ? { ok: false, error: 'retry', message: 'busy', retry_after: 0.05 } : { ok: true, id: 1, ts: 1 };
  };
  const outbox = new Outbox({ store, request, retryDelay: 60_000 });
  await outbox.add({ cid: 'busy' });
  const deadline = Date.now() + 2000;
  while (at.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(at.length, 2, 'resent within 2 s although the default delay is 60 s');
  assert.ok(at[1] - at[0] >= 45, `resent after ${at[1] - at[0]} ms, before the 50 ms the server asked`);
  const settle = Date.now() + 1000;
  while ((await outbox.items()).length && Date.now() < settle) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(await outbox.items(), []);
});
