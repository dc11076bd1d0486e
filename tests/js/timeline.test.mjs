// Message list model: de-duplication by cid and id, ordering, delivery states, grouping.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { STATUS } from '../../static/js/outbox.js';
import { buildTimeline, compareMessages, dayKey, formatSize, MessageList, previewText } from '../../static/js/timeline.js';

const ME = 1;
const PEER = 2;
const base = Date.UTC(2024, 4, 10, 10, 0, 0);
const text = (fields) => ({ kind: 'text', body: 'hi', ...fields });

test('the same message from echo, sync and history is shown once', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  assert.equal(list.upsert(text({ id: 5, cid: 'a', from: PEER, to: ME, ts: base })).added, true);
  assert.equal(list.upsert(text({ id: 5, cid: 'a', from: PEER, to: ME, ts: base })).added, false);
  assert.equal(list.upsert(text({ id: 5, cid: 'other', from: PEER, to: ME, ts: base })).added, false, 'same id');
  assert.equal(list.size, 1);
});

test('a pending message gets its id from the echo and is not duplicated', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: null, cid: 'mine', from: ME, to: PEER, seq: 1, status: STATUS.SENDING }));
  const { message, added } = list.upsert({ id: 9, cid: 'mine', from: ME, to: PEER, ts: base, status: STATUS.DELIVERED });
  assert.equal(added, false);
  assert.equal(message.id, 9);
  assert.equal(message.status, STATUS.DELIVERED);
  assert.equal(message.body, 'hi', 'content kept');
  assert.equal(list.byId.get(9), message);
});

test('the same cid from two senders is two messages', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: 1, cid: 'same', from: ME, to: PEER }));
  list.upsert(text({ id: 2, cid: 'same', from: PEER, to: ME }));
  assert.equal(list.size, 2);
});

test('stored messages are ordered by id, pending ones after them in writing order', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: null, cid: 'p2', from: ME, to: PEER, seq: 2 }));
  list.upsert(text({ id: 7, cid: 'x7', from: PEER, to: ME, ts: base }));
  list.upsert(text({ id: null, cid: 'p1', from: ME, to: PEER, seq: 1 }));
  list.upsert(text({ id: 3, cid: 'x3', from: PEER, to: ME, ts: base }));
  assert.deepEqual(list.list().map((m) => m.cid), ['x3', 'x7', 'p1', 'p2']);
  assert.ok(compareMessages({ id: 1 }, { id: null, seq: 0 }) < 0);
  assert.equal(list.oldestId(), 3);
  assert.equal(list.newestId(), 7);
});

test('delivery states never go back; an ack after the echo keeps "delivered"', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: null, cid: 'm', from: ME, to: PEER, seq: 1, status: STATUS.SENDING }));
  list.upsert({ id: 4, cid: 'm', from: ME, to: PEER, ts: base, status: STATUS.DELIVERED });
  const message = list.setStatus('m', STATUS.SENT, { id: 4, ts: base });
  assert.equal(message.status, STATUS.DELIVERED);
});

test('the peer read marker turns covered outgoing messages to read, also ones that arrive later', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: 1, cid: 'a', from: ME, to: PEER }));
  list.upsert(text({ id: 2, cid: 'b', from: PEER, to: ME }));
  list.upsert(text({ id: 3, cid: 'c', from: ME, to: PEER }));
  const changed = list.setPeerRead(2);
  assert.deepEqual(changed.map((m) => m.cid), ['a']);
  assert.equal(list.get(`${ME}:c`).status, STATUS.DELIVERED);
  assert.equal(list.get(`${PEER}:b`).status, null, 'incoming messages have no delivery state');
  assert.deepEqual(list.setPeerRead(1), [], 'markers never move back');
  list.upsert(text({ id: 0.5, cid: 'old', from: ME, to: PEER }));
  assert.equal(list.get(`${ME}:old`).status, STATUS.READ);
});

test('newestIncomingId covers only what the peer sent', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: 4, cid: 'a', from: PEER, to: ME }));
  list.upsert(text({ id: 6, cid: 'b', from: ME, to: PEER }));
  assert.equal(list.newestIncomingId(), 4);
});

test('a decryption placeholder is replaced by content, never the other way round', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert({ id: 1, cid: 'a', from: PEER, to: ME, kind: 'pending' });
  list.upsert(text({ id: 1, cid: 'a', from: PEER, to: ME, body: 'real' }));
  list.upsert({ id: 1, cid: 'a', from: PEER, to: ME, kind: 'pending' });
  assert.equal(list.get(`${PEER}:a`).body, 'real');
});

test('timeline groups by day and by sender, and breaks a run after five minutes', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  const min = 60 * 1000;
  const rows = [
    [1, PEER, base], [2, PEER, base + min], [3, ME, base + 2 * min], [4, ME, base + 3 * min],
    [5, ME, base + 10 * min], [6, PEER, base + 24 * 60 * min], [7, PEER, base + 24 * 60 * min + min],
  ];
  for (const [id, from, ts] of rows) list.upsert(text({ id, cid: `c${id}`, from, to: from === ME ? PEER : ME, ts }));
  const items = buildTimeline(list.list(), { now: base + 24 * 60 * min });
  const shape = items.map((i) => (i.type === 'day' ? `day:${i.label}` : i.messages.map((m) => m.id).join(',')));
  assert.deepEqual(shape, ['day:Yesterday', '1,2', '3,4', '5', 'day:Today', '6,7']);
  assert.equal(items[1].out, false);
  assert.equal(items[2].out, true);
});

test('pending messages are grouped by the time they were written', () => {
  const list = new MessageList({ me: ME, peer: PEER });
  list.upsert(text({ id: 1, cid: 'a', from: ME, to: PEER, ts: base }));
  list.upsert(text({ id: null, cid: 'b', from: ME, to: PEER, created: base + 1000, seq: 1 }));
  const items = buildTimeline(list.list(), { now: base });
  assert.equal(items.length, 2);
  assert.deepEqual(items[1].messages.map((m) => m.cid), ['a', 'b']);
});

test('day keys follow the local calendar', () => {
  const d = new Date(2024, 0, 31, 23, 59);
  assert.equal(dayKey(d.getTime()), '2024-01-31');
});

test('sizes and previews read well', () => {
  assert.equal(formatSize(999), '999 B');
  assert.equal(formatSize(1500), '1.5 KB');
  assert.equal(formatSize(25_000_000), '25 MB');
  assert.equal(previewText({ kind: 'text', body: '  hello\n\nworld ' }), 'hello world');
  assert.equal(previewText({ kind: 'file', file: { mime: 'image/png', name: 'a.png' } }), 'Photo');
  assert.equal(previewText({ kind: 'file', file: { mime: 'application/pdf', name: 'a.pdf' } }), 'File: a.pdf');
  assert.equal(previewText({ kind: 'error' }), 'Message could not be decrypted');
  assert.equal(previewText({ kind: 'text', body: '<script>alert(1)</script>' }), '<script>alert(1)</script>');
});
